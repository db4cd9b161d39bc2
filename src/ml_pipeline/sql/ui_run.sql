-- The Experiment view of one run: its experiment, model, latest promotion to its model and batch,
-- each empty until written. The batch is the one the run loaded, else (loaded again by a later run) the
-- batch of its date.
SELECT e.experiment_id, e.tuning, e.params_from_version, e.cv_folds, e.param_grid, e.best_params,
       e.test_accuracy, e.test_precision, e.test_recall, e.test_f1, e.test_roc_auc, e.train_rows,
       e.test_rows, e.test_curves, (e.settings ->> 'max_pca_components')::int AS max_pca_components,
       m.version, m.status, m.status_reason, m.classes,
       p.reason AS promotion_reason, p.promoted_at, p.promoted_by,
       b.batch_date, b.row_count, b.class_counts, b.source, b.data_sha256, b.loaded_at,
       b.dag_run_id = wanted.dag_run_id AS batch_loaded_by_run
FROM (SELECT %(dataset)s::text AS dataset, %(dag_run_id)s::text AS dag_run_id) AS wanted
LEFT JOIN experiments e ON e.dataset = wanted.dataset AND e.dag_run_id = wanted.dag_run_id
LEFT JOIN models m ON m.experiment_id = e.experiment_id
LEFT JOIN LATERAL (
    SELECT reason, promoted_at, promoted_by FROM promotions
    WHERE dataset = m.dataset AND to_version = m.version ORDER BY promotion_id DESC LIMIT 1
) p ON true
LEFT JOIN LATERAL (
    SELECT * FROM batches
    WHERE dataset = wanted.dataset AND (dag_run_id = wanted.dag_run_id OR batch_date = e.run_date)
    ORDER BY dag_run_id = wanted.dag_run_id DESC LIMIT 1
) b ON true;
