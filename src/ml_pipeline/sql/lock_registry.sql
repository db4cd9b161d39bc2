-- Promotions take turns, so two runs never both crown themselves.
SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.registry'));
