-- A saved model file, kept once per content; the scoring service is told that a model may have changed.
INSERT INTO model_files (sha256, model, metadata)
VALUES (%(sha256)s, %(model)s, %(metadata)s)
ON CONFLICT (sha256) DO UPDATE SET metadata = EXCLUDED.metadata;
