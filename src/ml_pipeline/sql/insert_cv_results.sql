-- All candidates of one experiment arrive as one JSON array: one round trip, whatever the grid size.
INSERT INTO cv_results (
    experiment_id, candidate, params, pca_n_components, c, mean_test_score, std_test_score,
    rank_test_score
)
SELECT %(experiment_id)s, r.candidate, r.params, r.pca_n_components, r.c, r.mean_test_score,
       r.std_test_score, r.rank_test_score
FROM jsonb_to_recordset(%(candidates)s::jsonb) AS r (
    candidate integer, params jsonb, pca_n_components integer, c double precision,
    mean_test_score double precision, std_test_score double precision, rank_test_score integer
);
