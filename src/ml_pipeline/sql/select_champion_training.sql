-- The dataset's champion, and the window of stored batches it was trained on.
SELECT m.version, e.run_date, coalesce((e.settings ->> 'training_window_days')::integer, 1) AS window_days,
       e.best_params
FROM models m
JOIN experiments e USING (experiment_id)
WHERE m.status = 'champion' AND m.dataset = %(dataset)s;
