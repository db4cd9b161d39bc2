"""Training: the training window and its split (``training_data``, ``split``), the model and its grid
(``model``), the fast cross-validation (``fast_cv``, its objectives in ``objectives``), tuning and what
it hands on (``tuning``, ``tuning_report``), and the run's pictures (``plots``). Imports ``basics`` and
``data_in``."""
