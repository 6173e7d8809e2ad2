"""Old path of the default nickname resolver; now ``pushworker.delivery.nicknames``."""

from pushworker.delivery.nicknames import from_user_model

__all__ = ["from_user_model"]
