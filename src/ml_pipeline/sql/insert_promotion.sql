INSERT INTO promotions (dataset, from_version, to_version, reason, promoted_by)
VALUES (%(dataset)s, %(from_version)s, %(to_version)s, %(reason)s, %(promoted_by)s);
