-- One feature's quantile sketch of a stored batch (batch_store.py).
INSERT INTO batch_quantiles (dataset, batch_date, feature, quantiles)
VALUES (%(dataset)s, %(batch_date)s, %(feature)s, %(quantiles)s)
ON CONFLICT (dataset, batch_date, feature) DO UPDATE SET quantiles = EXCLUDED.quantiles;
