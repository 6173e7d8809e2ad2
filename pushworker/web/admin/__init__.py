"""Django admin for operators: find devices and deliveries, read Xiaomi's answers, requeue.

Importing this package (Django's admin autodiscovery does) registers every model's admin.
"""

from pushworker.web.admin import (  # noqa: F401 - they register
    deadletters,
    deliveries,
    devices,
    recipients,
)
