"""The no-Docker stack: an embedded PostgreSQL and Airflow's services, owned by this project.

`python -m ml_pipeline_stack run | backfill | up | down | status | psql | env | promote | predict`,
behind `make`. One module per concern: ``layout`` (its folders), ``postgres`` (the server),
``services`` (Airflow's environment and processes), ``api`` (the REST client and run watcher),
``private`` (a stack of its own for tests and the bench), ``cli`` (the commands).
"""
