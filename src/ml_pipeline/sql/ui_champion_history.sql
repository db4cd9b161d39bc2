-- The Models view: each change of a dataset's champion, newest first.
SELECT p.promoted_at, p.from_version, p.to_version, p.reason, p.promoted_by
FROM promotions p
JOIN models m ON m.dataset = p.dataset AND m.version = p.to_version
WHERE m.dataset = %(dataset)s
ORDER BY p.promotion_id DESC
LIMIT %(limit)s;
