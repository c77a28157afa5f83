"""User-facing errors. The CLI prints their message without a traceback."""


class DriftError(Exception):
    """A problem with the user's input that the message explains how to fix."""


class ConfigError(DriftError, ValueError):
    """A configuration file or parameter is invalid."""
