"""Use of the champion: a day's rows scored into ``predictions`` (``scoring``), a file scored
(``predict``), and today's batch compared with the champion's training data before a promotion
(``drift``), and every champion served over HTTP (``serving``). Imports the stages below it."""
