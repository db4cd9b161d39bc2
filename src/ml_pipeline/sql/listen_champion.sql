LISTEN ml_pipeline_champion;  -- what notify_champion.sql sends
