SELECT e.dataset, e.run_date, e.dag_run_id, e.best_params, e.cv_mean_score, e.cv_std_score,
       e.test_accuracy, e.test_precision, e.test_recall, e.test_f1, e.test_roc_auc,
       e.train_rows, e.test_rows, e.model_path, e.tuning, e.params_from_version, e.param_grid,
       (e.settings ->> 'max_pca_components')::int AS max_pca_components,
       b.row_count AS batch_rows, m.version, m.status, m.status_reason
FROM experiments e
LEFT JOIN batches b ON b.dataset = e.dataset AND b.batch_date = e.run_date
LEFT JOIN models m ON m.experiment_id = e.experiment_id
WHERE e.dataset = %(dataset)s AND e.dag_run_id = %(dag_run_id)s;
