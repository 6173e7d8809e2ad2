"""Old path of the default nickname resolver; now ``pushworker.store.users``."""

from pushworker.store.users import from_user_model

__all__ = ["from_user_model"]
