INSERT INTO promotions (from_version, to_version, reason)
VALUES (%(from_version)s, %(to_version)s, %(reason)s);
