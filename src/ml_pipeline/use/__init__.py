"""Use of the champion: a day's rows scored into ``predictions`` (``scoring``), a file scored
(``predict``), and today's batch compared with the champion's training data before a promotion
(``drift``). Imports the stages below it."""
