"""The admin's "send a test push": a real goods-visit event for each selected device's owner.

It goes through the whole pipeline (the outbox row, the broker, a worker, Xiaomi), so the
deliveries it links to show what a real visit would do, on every active device of the owner. It
is the operator's explicit act, so the delivery policy lets it by (a customer who complains has
often reached the daily cap): its row is written first, marked ``test_push``
(``pushworker.store.testpush``), and then published as ``delay()`` publishes.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from pushworker import conf
from pushworker.events import GoodsVisit, InvalidEventError
from pushworker.ops import logs
from pushworker.producer import enqueue
from pushworker.store import outbox, testpush
from pushworker.store.models import PushDevice

TEST_VISITOR_ID = "pushworker-admin"
TEST_GOODS_ID = "pushworker-test-push"
TEST_GOODS_NAME = "Test push from the pushworker admin"


def enqueue_test_push(app_name: str, owner_id: str, sender: str) -> str:
    """Keep and publish one test push to ``owner_id``'s devices; its event id.

    Raises :class:`InvalidEventError` (an app no longer configured, an id the event refuses) and
    ``DatabaseError`` (the row could not be kept). A publish the broker refuses is the relay's.
    """
    from pushworker.tasks import send_goods_visit

    event = GoodsVisit.from_call(
        owner_id=owner_id,
        visitor_id=TEST_VISITOR_ID,
        goods_id=TEST_GOODS_ID,
        goods_name=TEST_GOODS_NAME,
        visitor_name=sender[:64] or "pushworker admin",
        app_name=app_name,
    )
    try:
        app = conf.get().app(app_name).name
    except KeyError as error:
        raise InvalidEventError("app_name", str(error.args[0])) from None
    testpush.keep(event, app)
    if enqueue.publish(send_goods_visit, event):
        outbox.mark_event_published(event.event_id)
    with logs.operator_action():
        logs.enqueued(event.event_id, event.kind, app, test_push=True)
    return event.event_id


def enqueue_test_pushes(devices: QuerySet[PushDevice], sender: str) -> tuple[list[str], list[str]]:
    """One event per (app, owner) of ``devices``; returns the event ids and the refusals."""
    event_ids: list[str] = []
    problems: list[str] = []
    for app_name, owner_id in sorted(set(devices.values_list("app_name", "user_id"))):
        try:
            event_ids.append(enqueue_test_push(app_name, owner_id, sender))
        except (InvalidEventError, DatabaseError) as error:
            problems.append(f"{app_name}/{owner_id}: {error}")
    return event_ids, problems


@admin.action(  # "change": it makes real phones ring
    description="Send a test push to the selected devices' owners", permissions=["change"]
)
def send_test_push(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[PushDevice]
) -> None:
    event_ids, problems = enqueue_test_pushes(queryset, request.user.get_username())
    if event_ids:
        deliveries = reverse("admin:pushworker_delivery_changelist")
        links = format_html_join(
            ", ",
            '<a href="{}?event_id={}">{}</a>',
            ((deliveries, event_id, event_id[:8]) for event_id in event_ids),
        )
        modeladmin.message_user(
            request,
            format_html(
                "{} test push(es) enqueued, each to all active devices of its owner, whatever "
                "the delivery policy (daily cap, dedup, quiet hours) says: "
                '<a href="{}?event_id__in={}">the deliveries</a> ({}).',
                len(event_ids),
                deliveries,
                ",".join(event_ids),
                links,
            ),
            messages.SUCCESS,
        )
    inactive = queryset.filter(is_active=False).count()
    if inactive:
        modeladmin.message_user(
            request,
            f"{inactive} selected device(s) are inactive and get no push until they register "
            "again or are reactivated.",
            messages.WARNING,
        )
    for problem in problems:
        modeladmin.message_user(request, f"Not enqueued: {problem}", messages.ERROR)
