-- A model's drift reference: its training data in bins (drift.py).
SELECT kind, name, edges, shares, rows FROM drift_reference WHERE version = %(version)s;
