"""Old path of Django's error reports without credentials; now ``pushworker.ops.reporting``."""

from pushworker.ops.reporting import CredentialsFilter

__all__ = ["CredentialsFilter"]
