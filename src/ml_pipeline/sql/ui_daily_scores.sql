-- The Models view's chart: each run's test scores by day, the seed's "results across training periods".
SELECT e.run_date, e.test_accuracy, e.test_roc_auc, e.test_f1
FROM experiments e
WHERE e.dataset = %(dataset)s
ORDER BY e.run_date, e.experiment_id;
