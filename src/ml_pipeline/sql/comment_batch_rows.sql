COMMENT ON TABLE {table} IS {description};
