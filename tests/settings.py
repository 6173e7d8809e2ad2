"""Django settings of the pytest-django suites: the standalone settings plus a key for this run.

The standalone settings have no public fallback key (see pushworker/conf/checks.py), and sessions of
the admin tests need one.
"""

import secrets

from pushworker.settings import *  # noqa: F403

SECRET_KEY = secrets.token_urlsafe(50)
