-- One row of a model's drift reference (drift.py); a refit of the same version replaces them first.
INSERT INTO drift_reference (version, kind, name, edges, shares, rows)
VALUES (%(version)s, %(kind)s, %(name)s, %(edges)s, %(shares)s, %(rows)s);
