"""Old path of the beat scheduler holding a Redis lock; now ``pushworker.broker.beatlock``."""

from pushworker.broker.beatlock import LockedScheduler

__all__ = ["LockedScheduler"]
