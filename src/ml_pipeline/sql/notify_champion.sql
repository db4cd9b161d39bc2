-- Wakes the scoring service (LISTEN ml_pipeline_champion) when the transaction commits.
SELECT pg_notify('ml_pipeline_champion', %(dataset)s);
