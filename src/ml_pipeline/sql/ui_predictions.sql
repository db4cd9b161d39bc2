-- The Models view: the newest day of a dataset's scores, counted per predicted class and model.
SELECT p.score_date, p.predicted_class, p.model_version, count(*) AS rows
FROM predictions p
WHERE p.dataset = %(dataset)s
  AND p.score_date = (SELECT max(score_date) FROM predictions WHERE dataset = %(dataset)s)
GROUP BY p.score_date, p.predicted_class, p.model_version
ORDER BY rows DESC, p.predicted_class;
