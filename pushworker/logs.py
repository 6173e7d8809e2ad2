"""Old path of JSON log lines and the correlation id; now ``pushworker.ops.logs``."""

from pushworker.ops.logs import CorrelationFilter, correlation, formatter

__all__ = ["CorrelationFilter", "correlation", "formatter"]
