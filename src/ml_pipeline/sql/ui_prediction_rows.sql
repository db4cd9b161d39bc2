-- The Models view: the first rows of the newest day of a dataset's scores, with the classes they follow.
SELECT p.row_key, p.predicted_class, p.probabilities, p.model_version, m.classes
FROM predictions p
LEFT JOIN models m ON m.dataset = p.dataset AND m.version = p.model_version
WHERE p.dataset = %(dataset)s
  AND p.score_date = (SELECT max(score_date) FROM predictions WHERE dataset = %(dataset)s)
ORDER BY p.row_key
LIMIT %(limit)s;
