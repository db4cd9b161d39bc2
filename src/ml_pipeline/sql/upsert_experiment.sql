INSERT INTO experiments (
    dag_run_id, dataset, run_date, source, data_sha256, started_at, finished_at, cv_folds, param_grid,
    settings, best_params, cv_mean_score, cv_std_score, test_accuracy, test_precision,
    test_recall, test_f1, test_roc_auc, train_rows, test_rows, tuning, params_from_version, test_curves
)
VALUES (
    %(dag_run_id)s, %(dataset)s, %(run_date)s, %(source)s, %(data_sha256)s, %(started_at)s, %(finished_at)s,
    %(cv_folds)s, %(param_grid)s, %(settings)s, %(best_params)s, %(cv_mean_score)s,
    %(cv_std_score)s, %(test_accuracy)s, %(test_precision)s, %(test_recall)s, %(test_f1)s,
    %(test_roc_auc)s, %(train_rows)s, %(test_rows)s, %(tuning)s, %(params_from_version)s, %(test_curves)s
)
ON CONFLICT (dataset, dag_run_id) DO UPDATE SET
    run_date = EXCLUDED.run_date,
    source = EXCLUDED.source,
    data_sha256 = EXCLUDED.data_sha256,
    started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at,
    cv_folds = EXCLUDED.cv_folds,
    param_grid = EXCLUDED.param_grid,
    settings = EXCLUDED.settings,
    best_params = EXCLUDED.best_params,
    cv_mean_score = EXCLUDED.cv_mean_score,
    cv_std_score = EXCLUDED.cv_std_score,
    test_accuracy = EXCLUDED.test_accuracy,
    test_precision = EXCLUDED.test_precision,
    test_recall = EXCLUDED.test_recall,
    test_f1 = EXCLUDED.test_f1,
    test_roc_auc = EXCLUDED.test_roc_auc,
    train_rows = EXCLUDED.train_rows,
    test_rows = EXCLUDED.test_rows,
    tuning = EXCLUDED.tuning,
    params_from_version = EXCLUDED.params_from_version,
    test_curves = EXCLUDED.test_curves,
    recorded_at = now()
RETURNING experiment_id;
