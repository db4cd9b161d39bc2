UPDATE models SET status = %(status)s, status_reason = %(reason)s WHERE version = %(version)s;
