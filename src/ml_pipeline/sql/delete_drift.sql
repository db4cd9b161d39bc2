DELETE FROM drift WHERE dataset = %(dataset)s AND dag_run_id = %(dag_run_id)s;
