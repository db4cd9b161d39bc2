-- A SQL source's query is cancelled by the server past this many milliseconds (query_timeout_seconds).
SELECT set_config('statement_timeout', %s, false)
