"""The registry: a run's experiment rows (``experiments``), the models table and the champion
(``promotion``), the model files (``model_files``: refit, save, checked load), and champion and challenger
judged on rows neither trained on (``judging``). Imports ``basics``, ``data_in`` and ``training``."""
