"""What a run knows of its recipients' preferences: read once per app and run, on first use.

A run (one event, or a drain's batch) asks for each event's recipient; the first question about
an app reads the choices of every recipient of that app in the run with one query
(``store.preferences.of_recipients``), so a batch of 200 events costs one query, not 200. A run
whose events no preference can touch (an unmutable kind alone, say) reads nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from pushworker.store import preferences
from pushworker.store.models import Delivery
from pushworker.store.preferences import NONE, Choices


class Preferences:
    """The choices of the recipients of one run's rows."""

    def __init__(self, rows: Sequence[Delivery]) -> None:
        self._recipients: dict[str, set[str]] = {}
        for row in rows:
            self._recipients.setdefault(row.app_name, set()).add(row.recipient_id)
        self._read: dict[str, dict[str, Choices]] = {}

    def of(self, delivery: Delivery) -> Choices:
        """The choices of ``delivery``'s recipient (the app's defaults when they made none)."""
        app = delivery.app_name
        found = self._read.get(app)
        if found is None:
            found = self._read[app] = preferences.of_recipients(
                app, self._recipients.get(app, {delivery.recipient_id})
            )
        return found.get(delivery.recipient_id, NONE)
