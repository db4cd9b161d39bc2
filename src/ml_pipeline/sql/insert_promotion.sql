INSERT INTO promotions (from_version, to_version, reason, promoted_by)
VALUES (%(from_version)s, %(to_version)s, %(reason)s, %(promoted_by)s);
