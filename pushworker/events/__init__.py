"""Event kinds: one module each, found by the registry; the shared checks and base live here too.

``from pushworker.events import GoodsVisit, InvalidEventError`` keeps working for callers of the
first kind; new code asks ``registry.get(kind)``.
"""

from pushworker.events.goods_visit import GoodsVisit
from pushworker.events.validators import (
    MAX_APP_NAME_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SHORT_NAME_LENGTH,
    InvalidEventError,
)

MAX_VISITOR_NAME_LENGTH = MAX_SHORT_NAME_LENGTH

__all__ = [
    "MAX_APP_NAME_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_VISITOR_NAME_LENGTH",
    "GoodsVisit",
    "InvalidEventError",
]
