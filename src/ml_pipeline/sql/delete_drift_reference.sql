DELETE FROM drift_reference WHERE version = %(version)s;
