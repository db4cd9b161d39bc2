-- Every candidate of a run's grid search, for the Experiment view's heatmap and table.
SELECT pca_n_components, c, mean_test_score, std_test_score, rank_test_score
FROM cv_results
WHERE experiment_id = %(experiment_id)s
ORDER BY rank_test_score, candidate;
