"""Errors raised by the driving-log readers."""

from drift.errors import DriftError


class LogError(DriftError, ValueError):
    """A driving log (file, column, topic or column map) is unusable; the message says how to fix it."""
