"""The standalone settings without PUSHWORKER_CELERY_APP: a web process whose Celery app nobody
loaded, as a host project's that forgot its own (tests/integration/test_standalone_publish.py)."""

from pushworker.settings import *  # noqa: F403

del PUSHWORKER_CELERY_APP  # noqa: F821 - defined by the star import
