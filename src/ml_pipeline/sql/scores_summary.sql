-- One day's scores of a dataset: rows per predicted class, and the model that made them.
SELECT p.model_version, p.predicted_class, count(*) AS rows, max(p.scored_at) AS scored_at
FROM predictions p
WHERE p.dataset = %(dataset)s AND p.score_date = %(score_date)s
GROUP BY p.model_version, p.predicted_class
ORDER BY p.model_version, p.predicted_class;
