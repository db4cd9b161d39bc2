"""The shared basics: the settings (``config``), the dataset declarations (``datasets``, with scikit-learn's
bundled tables' columns), the database connection and SQL files (``db``), the ``Batch`` type, a run's key
(``run``) and atomic file writes (``files``). They import nothing from the stages above them."""
