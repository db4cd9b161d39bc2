-- Every dataset's champion, and since when: what the scoring service serves.
SELECT m.dataset, m.version, m.sha256, m.path,
       (SELECT max(p.promoted_at) FROM promotions p
        WHERE p.dataset = m.dataset AND p.to_version = m.version) AS since
FROM models m
WHERE m.status = 'champion'
ORDER BY m.dataset;
