"""Old path of the models (Django finds an app's models here); now ``pushworker.store.models``."""

from pushworker.store.models import *  # noqa: F403
