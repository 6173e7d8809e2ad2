"""The shop's gunicorn settings: pushworker's hooks, so /metrics sums every worker's counts.

Run with ``PROMETHEUS_MULTIPROC_DIR`` set (README, "Metrics of a host project's web processes").
"""

from pushworker.web.metrics import child_exit, on_starting  # noqa: F401 - gunicorn's hooks

workers = 2
