"""The delivery list's paginator: it counts at most ``LIMIT + 1`` rows, never the whole table.

A plain ``COUNT(*)`` over millions of deliveries reads every row (docs/queries.md). Counting a
``LIMIT``-ed subquery costs the same at any table size; past the limit the list says "10,000+"
and offers the pages up to it (newest first, so older rows are reached by a filter, not page 201).
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000


class BoundedPaginator(Paginator):
    """A ``Paginator`` whose ``count`` stops at ``COUNT_LIMIT + 1``."""

    @cached_property
    def count(self) -> int:
        # SELECT COUNT(*) FROM (SELECT ... LIMIT 10001): bounded work whatever the table size.
        return self.object_list[: COUNT_LIMIT + 1].count()

    @property
    def capped(self) -> bool:
        """True when there are more rows than were counted."""
        return self.count > COUNT_LIMIT

    @cached_property
    def num_pages(self) -> int:
        # Past the limit, only the counted rows are paged: the last page is a full one.
        if self.capped:
            return max(1, COUNT_LIMIT // self.per_page)
        return super().num_pages


def shown_count(count: int) -> str:
    """``10001`` → ``"10,000+"``; an exact count below the limit as it is."""
    return f"{COUNT_LIMIT:,}+" if count > COUNT_LIMIT else f"{count:,}"
