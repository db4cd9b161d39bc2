"""A daily retrain of a classifier on Apache Airflow, as plain Python grouped by pipeline stage.

The arrows point one way, down this list:

- ``tasks`` and ``ui``: the Airflow layer (thin tasks per stage, the sensor, the Assets, the UI plugin),
  and ``cli``, the command line; they call the stages.
- ``use``: what the champion is used for (scoring a day into ``predictions``, ``predict`` on a file) and
  the drift check before a promotion.
- ``registry``: experiments, models, the champion and its files, the fair comparison.
- ``training``: the split, the model and its grid, the fast CV, tuning and its report, the plots.
- ``data_in``: sources, the strict reader and its checks, the batch tables, the sketches.
- ``basics``: what every stage shares: settings, declarations, the database, the batch type.

A stage imports from the stages below it and from ``basics``, never from one above it.
"""
