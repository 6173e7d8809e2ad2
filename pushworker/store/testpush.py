"""The row of an operator's test push: written marked before its message, so no run can miss it.

The worker reads ``Delivery.test_push`` on the row it claims and lets the delivery policy by
(``pushworker.delivery.policy.admit``): the operator asked for this push, whatever the daily cap,
the dedup window or the quiet hours say. The row is the same a ``delay()`` writes
(``deliveries.insert``), marked in the same transaction and left unpublished: the caller
publishes it, and a drain or the outbox relay takes it if the broker does not.
"""

from __future__ import annotations

from django.db import router, transaction

from pushworker.events.base import Event
from pushworker.store import deliveries
from pushworker.store.models import Delivery


def keep(event: Event, app_name: str) -> None:
    """Write ``event``'s row, queued and unpublished, marked as a test push."""
    with transaction.atomic(using=router.db_for_write(Delivery)):
        deliveries.insert(event, app_name, published=False)
        Delivery.objects.filter(event_id=event.event_id).update(test_push=True)
