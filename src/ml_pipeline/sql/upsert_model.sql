-- Register the run's model as its dataset's next version (under lock_registry.sql); a re-run of the run
-- updates its row and keeps its version and status.
INSERT INTO models (version, experiment_id, dataset, path, sha256, classes, test_accuracy, test_f1, test_roc_auc)
SELECT (SELECT coalesce(max(version), 0) + 1 FROM models WHERE dataset = %(dataset)s),
       experiment_id, dataset, %(path)s, %(sha256)s, %(classes)s, test_accuracy, test_f1, test_roc_auc
FROM experiments
WHERE dataset = %(dataset)s AND dag_run_id = %(dag_run_id)s
ON CONFLICT (experiment_id) DO UPDATE SET
    path = EXCLUDED.path,
    sha256 = EXCLUDED.sha256,
    classes = EXCLUDED.classes,
    test_accuracy = EXCLUDED.test_accuracy,
    test_f1 = EXCLUDED.test_f1,
    test_roc_auc = EXCLUDED.test_roc_auc
RETURNING version;
