"""The one error type of a user's mistake in a setting or a declaration: said once, without a traceback."""


class ConfigError(ValueError):
    """A setting has a value the pipeline cannot use."""
