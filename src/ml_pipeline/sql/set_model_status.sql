UPDATE models SET status = %(status)s, status_reason = %(reason)s WHERE dataset = %(dataset)s AND version = %(version)s;
