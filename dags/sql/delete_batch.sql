-- Drop the date's previous batch; its rows go with it (ON DELETE CASCADE).
DELETE FROM batches WHERE batch_date = %(batch_date)s;
