-- Each day's scores of each dataset's rows, by the champion of the day they were scored (scoring.py).
-- Re-scoring a date replaces its rows.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS predictions (
    dataset          text               NOT NULL,
    score_date       date               NOT NULL,
    row_key          text               NOT NULL,
    predicted_class  text               NOT NULL,
    probabilities    double precision[] NOT NULL,
    model_version    bigint             NOT NULL,
    scored_at        timestamptz        NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, score_date, row_key)
);

-- The model version is checked once per scoring (scoring.py scores with the registered champion),
-- not by a foreign key, which would look it up again for each of a million rows.
ALTER TABLE predictions DROP CONSTRAINT IF EXISTS predictions_model_version_fkey;

COMMENT ON TABLE predictions IS 'Scores of each day''s rows by the champion model: the predicted class and each class''s probability.';
COMMENT ON COLUMN predictions.row_key IS 'The row''s value of the dataset''s key column, or else its position in the day''s input (0 first).';
COMMENT ON COLUMN predictions.model_version IS 'The version (within the dataset) of the champion that made the score (see latest_predictions).';
COMMENT ON COLUMN predictions.probabilities IS 'One probability per class, in the order the dataset declares its classes (latest_predictions pairs them up).';

-- Made again each time, as the tables it reads may have gained columns.
DROP VIEW IF EXISTS latest_predictions;
CREATE VIEW latest_predictions AS
SELECT p.dataset, p.score_date, p.row_key, p.predicted_class,
       (SELECT jsonb_object_agg(class, probability)
        FROM unnest(m.classes, p.probabilities) AS pair (class, probability)) AS class_probabilities,
       p.model_version, m.status AS model_status, m.path AS model_path, m.test_accuracy AS model_test_accuracy,
       m.created_at AS model_created_at, p.scored_at
FROM predictions p
JOIN (SELECT dataset, max(score_date) AS score_date FROM predictions GROUP BY dataset) latest
    USING (dataset, score_date)
JOIN models m ON m.dataset = p.dataset AND m.version = p.model_version;

COMMENT ON VIEW latest_predictions IS 'Each dataset''s newest day of scores, with the model that made them.';
