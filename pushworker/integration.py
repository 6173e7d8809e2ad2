"""Old path of the Celery wiring (``install(app)``); now ``pushworker.broker.install``."""

from pushworker.broker.install import install

__all__ = ["install"]
