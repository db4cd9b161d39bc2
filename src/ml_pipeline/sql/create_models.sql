-- The model registry: every saved model, which one is live (champion), and every promotion.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS models (
    version        bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id  bigint           NOT NULL UNIQUE REFERENCES experiments ON DELETE CASCADE,
    path           text             NOT NULL,
    sha256         text             NOT NULL,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    test_accuracy  double precision NOT NULL,
    test_f1        double precision NOT NULL,
    test_roc_auc   double precision NOT NULL,
    status         text             NOT NULL DEFAULT 'challenger'
                                    CHECK (status IN ('champion', 'challenger', 'archived')),
    status_reason  text
);

-- At most one champion, whatever happens concurrently.
CREATE UNIQUE INDEX IF NOT EXISTS models_single_champion ON models (status) WHERE status = 'champion';

CREATE TABLE IF NOT EXISTS promotions (
    promotion_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    promoted_at    timestamptz NOT NULL DEFAULT now(),
    from_version   bigint      REFERENCES models (version) ON DELETE SET NULL,
    to_version     bigint      NOT NULL REFERENCES models (version) ON DELETE CASCADE,
    reason         text        NOT NULL
);

COMMENT ON TABLE models IS 'Every model ml_pipeline saved; status says which one is live (champion).';
COMMENT ON COLUMN models.path IS 'The model file, relative to the models folder; metadata.json beside it.';
COMMENT ON TABLE promotions IS 'Each change of champion: when, from which version to which, and why.';

CREATE OR REPLACE VIEW leaderboard AS
SELECT e.run_date, e.dag_run_id, e.best_params, round(e.cv_mean_score::numeric, 4) AS cv_accuracy,
       round(e.test_accuracy::numeric, 4) AS test_accuracy, round(e.test_roc_auc::numeric, 4) AS test_roc_auc,
       m.version AS model_version, m.status
FROM experiments e
LEFT JOIN models m ON m.experiment_id = e.experiment_id
ORDER BY e.run_date DESC, e.started_at DESC;

CREATE OR REPLACE VIEW champion_history AS
SELECT p.promoted_at, p.from_version, p.to_version, p.reason, m.path, m.test_accuracy
FROM promotions p
JOIN models m ON m.version = p.to_version
ORDER BY p.promoted_at DESC, p.promotion_id DESC;
