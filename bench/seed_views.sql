-- A pipeline database as a year and more of daily runs leaves it: %(runs)s breast-cancer batches and runs of 63 PCA
-- sizes x 7 C values (441 candidates) each, their models (the newest the champion), a promotion every
-- tenth day, a drift check of every feature, and five days of %(scored)s scores each.
INSERT INTO experiments (
    dag_run_id, dataset, run_date, source, data_sha256, started_at, finished_at, cv_folds, param_grid,
    settings, best_params, cv_mean_score, cv_std_score, test_accuracy, test_precision, test_recall,
    test_f1, test_roc_auc, train_rows, test_rows, test_curves, model_path, model_sha256
)
SELECT 'scheduled__' || day::date || 'T00:00:00+00:00', 'breast_cancer', day::date, 'declared',
       md5(day::text) || md5(day::text), day, day + interval '30 seconds', 5, %(grid)s, '{}',
       jsonb_build_object('pca__n_components', 10 + n %% 20, 'classifier__C', 1.0), 0.97, 0.01,
       0.93 + random() * 0.05, 0.95, 0.96, 0.955, 0.98 + random() * 0.015, 455, 114, %(curves)s,
       'breast_cancer/' || day::date || '.joblib', repeat('f', 64)
FROM generate_series(1, %(runs)s) AS n, LATERAL (SELECT date '2024-01-01' + n - 1 AS day) AS days;

INSERT INTO batches (dataset, batch_date, dag_run_id, source, row_count, class_counts, data_sha256)
SELECT dataset, run_date, dag_run_id, source, 569, '{"0": 212, "1": 357}', data_sha256 FROM experiments;

INSERT INTO cv_results
SELECT e.experiment_id, (size - 1) * 7 + (c_index - 1),
       jsonb_build_object('pca__n_components', size, 'classifier__C', c), size, c,
       0.88 + random() * 0.1, random() * 0.02, (size - 1) * 7 + c_index
FROM experiments e, generate_series(1, 63) AS size,
     unnest(ARRAY[0.001, 0.01, 0.1, 1, 10, 100, 1000]::double precision[]) WITH ORDINALITY AS grid (c, c_index);

INSERT INTO models (version, experiment_id, dataset, path, sha256, test_accuracy, test_f1, test_roc_auc,
                    status, status_reason, classes)
SELECT row_number() OVER (PARTITION BY dataset ORDER BY experiment_id), experiment_id, dataset, model_path,
       model_sha256, test_accuracy, test_f1, test_roc_auc, 'challenger',
       'kept as a challenger: not better by more than min_delta 0', ARRAY['0', '1']
FROM experiments ORDER BY experiment_id;
UPDATE models SET status = 'archived', status_reason = 'replaced by a later champion' WHERE version %% 10 = 1;
UPDATE models SET status = 'champion', status_reason = 'better by more than min_delta 0'
WHERE version = (SELECT max(version) FROM models);
INSERT INTO promotions (dataset, from_version, to_version, reason)
SELECT dataset, NULLIF(version - 10, -9), version, 'better by more than min_delta 0'
FROM models WHERE version %% 10 = 1 OR status = 'champion';

INSERT INTO drift (dataset, dag_run_id, run_date, champion_version, champion_date, kind, name, psi, threshold, drifted)
SELECT e.dataset, e.dag_run_id, e.run_date, NULL, e.run_date - 1, 'feature', 'feature ' || f, psi, 0.2, psi > 0.2
FROM experiments e, generate_series(1, 30) AS f, LATERAL (SELECT random() * 0.25 + f * 0 AS psi) AS figure;

INSERT INTO predictions (dataset, score_date, row_key, predicted_class, probabilities, model_version)
SELECT 'breast_cancer', (SELECT max(run_date) FROM experiments) - back, key::text, (key %% 2)::text,
       ARRAY[0.3, 0.7], (SELECT max(version) FROM models)
FROM generate_series(0, 4) AS back, generate_series(1, %(scored)s) AS key;
ANALYZE;
