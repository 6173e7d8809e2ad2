"""The outbox: which deliveries the broker must be given (again), and who marks them published.

After ``deliveries.insert`` created a row, this module and the claims and parks of
:mod:`pushworker.store.deliveries` are the writers of ``published_at``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import reduce
from operator import or_

from django.db.models import Q
from django.utils import timezone

from pushworker.events import registry
from pushworker.events.base import Event
from pushworker.store.models import Delivery, DeliveryStatus


def event_of(delivery: Delivery) -> Event:
    """The event a row keeps, rebuilt by its kind (the relay and the sweeper publish it again)."""
    return registry.get(delivery.kind).from_row(
        str(delivery.event_id), delivery.app_name, delivery.recipient_id, delivery.payload
    )


def waiting(limit: int, *, older_than: float = 0.0) -> list[Delivery]:
    """Due deliveries no broker message carries, urgent ones first: retries whose time has come,
    and queued rows written more than ``older_than`` s ago (the broker was down or hung when they
    were enqueued, or they joined a backlog whose drain was asked for when they were written)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than)
    return list(
        Delivery.objects.filter(
            Q(status=DeliveryStatus.QUEUED, next_attempt_at__lte=cutoff)
            | Q(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now),
            published_at__isnull=True,
        ).order_by("-priority", "next_attempt_at")[:limit]
    )


def pending_count() -> int:
    """How many queued deliveries the broker has not taken (the backlog the relay works on)."""
    return Delivery.objects.filter(status=DeliveryStatus.QUEUED, published_at__isnull=True).count()


def stuck(*, stale_after: float, lease: float, limit: int) -> list[Delivery]:
    """Deliveries whose broker message is probably gone.

    Queued and published long ago (Redis restarted without persistence), sending with an expired
    claim (the worker died and its message was lost), or retrying well past the retry's due time.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=stale_after)
    return list(
        Delivery.objects.filter(
            Q(status=DeliveryStatus.QUEUED, published_at__lt=stale)
            | Q(
                status=DeliveryStatus.SENDING,
                updated_at__lt=stale,
                claimed_at__lt=now - timedelta(seconds=lease + stale_after),
            )
            # A retry's message the relay published and Redis lost (a waiting row has none).
            | Q(
                status=DeliveryStatus.RETRYING,
                next_attempt_at__lt=stale,
                published_at__isnull=False,
            )
        ).order_by("updated_at")[:limit]
    )


def mark_unpublished(event_ids: list[str]) -> None:
    """The broker did not take these freshly kept events: the relay publishes them.

    Called on a producer's publisher thread too, which closes its connection afterwards."""
    Delivery.objects.filter(event_id__in=event_ids, status=DeliveryStatus.QUEUED).update(
        published_at=None
    )


def mark_event_published(event_id: str) -> None:
    """The broker took an event kept as unpublished; the relay must not publish it again."""
    Delivery.objects.filter(
        event_id=event_id, status=DeliveryStatus.QUEUED, published_at__isnull=True
    ).update(published_at=timezone.now())


def mark_published(deliveries: list[Delivery]) -> None:
    """Note the hand-over; a row republished by the sweeper starts a new staleness period.

    Only rows still as the caller read them (same ``updated_at``) are marked: a drain may have
    claimed one between the read and the publish, and parked it again as a retry due later. That
    row waits for a drain; marked published, no drain would claim it, and the sweeper would take
    it for a lost message and publish it once more."""
    if not deliveries:
        return
    now = timezone.now()
    unchanged = reduce(or_, (Q(pk=d.pk, updated_at=d.updated_at) for d in deliveries))
    rows = Delivery.objects.filter(unchanged)
    rows.filter(status=DeliveryStatus.QUEUED).update(published_at=now)
    # A retry is published once due: its message is now what carries it, from now.
    rows.filter(status=DeliveryStatus.RETRYING).update(published_at=now, next_attempt_at=now)
    # Not claimed_at: the republished message must find the old claim expired and take it over.
    rows.filter(status=DeliveryStatus.SENDING).update(updated_at=now)


def requeue(deliveries) -> int:
    """Put failed or dead deliveries back to ``queued`` for the relay to publish (admin action)."""
    return deliveries.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD]).update(
        status=DeliveryStatus.QUEUED,
        published_at=None,
        finished_at=None,
        retries=0,
        crashes=0,
        next_attempt_at=timezone.now(),
        updated_at=timezone.now(),
    )
