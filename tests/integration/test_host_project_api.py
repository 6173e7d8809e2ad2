"""The sample host project's device API (session login + CSRF) and anonymous goods visits.

The shop mounts ``pushworker.web.api.urls`` as the README says. Its users log in with the shop's own
session and register their phones; the shop's worker then pushes a goods visit to that phone at
the emulator. An anonymous visitor on the README's example view is named by the app's
``ANONYMOUS_NICKNAME``. Same real parts as test_host_project.py: Redis, the host's worker, the
emulator, and the host's ``manage.py``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.test_host_project import Host
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    host = Host(tmp_path_factory.mktemp("host-api"))
    try:
        host.worker()
        yield host
    finally:
        host.close()


def messages_to(host: Host, target: str) -> list[dict]:
    answer = httpx.get(f"{host.production_url}/_emulator/messages", timeout=5).json()
    return [m for m in answer["messages"] if target in m["targets"]]


def delivery_status(host: Host, event_id: str) -> str | None:
    return host.shell(
        "import json; from pushworker.store.models import Delivery; "
        f"row = Delivery.objects.filter(event_id='{event_id}').first(); "
        "print(json.dumps(row and row.status))"
    )


# A browser's session: take the CSRF cookie from a page of the shop (its admin login form), log
# in with the password, and send the token back as X-CSRFToken on every change, as Django asks.
DEVICES = """
import json
from django.contrib.auth.models import User
from django.test import Client
from shop.models import Goods
alice = User.objects.create_user("alice", password="alice-pw")
bob = User.objects.create_user("bob", password="bob-pw")
User.objects.create_user("staff", password="staff-pw", is_staff=True)
goods = Goods.objects.create(owner=alice, name="紫砂茶壶")

def browser(name):
    client = Client(enforce_csrf_checks=True)
    client.get("/admin/login/")
    assert client.login(username=name, password=name + "-pw")
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}

def call(client, method, path, body=None, **extra):
    kwargs = {"content_type": "application/json", "data": json.dumps(body)} if body else {}
    answer = getattr(client, method)(path, **kwargs, **extra)
    return [answer.status_code, answer.json() if answer.content else None]

alice_client, alice_csrf = browser("alice")
staff_client, staff_csrf = browser("staff")
mine = {"user_id": str(alice.pk), "platform": "android", "registration_id": "alice-phone/1=="}
bobs = {"user_id": str(bob.pk), "platform": "android", "registration_id": "bob-phone"}
print(json.dumps({
    "alice": alice.pk, "bob": bob.pk, "goods": goods.pk,
    "no_csrf": call(alice_client, "post", "/api/v1/devices", mine),
    "created": call(alice_client, "post", "/api/v1/devices", mine, **alice_csrf),
    "again": call(alice_client, "post", "/api/v1/devices", mine, **alice_csrf),
    "listed": call(alice_client, "get", "/api/v1/devices"),
    "staff_for_bob": call(staff_client, "post", "/api/v1/devices", bobs, **staff_csrf),
    "alice_for_bob": call(alice_client, "post", "/api/v1/devices", bobs, **alice_csrf),
    "alice_lists_bob": call(alice_client, "get", f"/api/v1/devices?user_id={bob.pk}"),
    "alice_deletes_bob": call(alice_client, "delete", "/api/v1/devices/bob-phone", **alice_csrf),
    "staff_lists_bob": call(staff_client, "get", f"/api/v1/devices?user_id={bob.pk}"),
    "staff_deletes_bob": call(staff_client, "delete", "/api/v1/devices/bob-phone", **staff_csrf),
    "anonymous": call(Client(), "get", "/api/v1/devices"),
}))
"""


def test_a_host_user_registers_their_phone_over_the_session_and_gets_the_push(host) -> None:
    seen = host.shell(DEVICES)
    alice, bob = str(seen["alice"]), str(seen["bob"])
    status, body = seen["no_csrf"]
    assert status == 403 and "CSRF" in body["detail"]
    status, created = seen["created"]
    assert status == 201
    assert (created["user_id"], created["registration_id"]) == (alice, "alice-phone/1==")
    assert seen["again"][0] == 200
    status, listed = seen["listed"]
    assert status == 200
    assert [d["registration_id"] for d in listed] == ["alice-phone/1=="]
    assert seen["staff_for_bob"][0] == 201  # staff act for anyone
    for refused in ("alice_for_bob", "alice_lists_bob", "alice_deletes_bob"):
        assert seen[refused][0] == 403, (refused, seen[refused])
    status, bobs = seen["staff_lists_bob"]
    assert status == 200 and [d["user_id"] for d in bobs] == [bob]
    assert seen["staff_deletes_bob"][0] == 204
    assert seen["anonymous"][0] == 401  # no session, no token

    # Bob visits alice's goods on the shop's page: the shop's worker pushes to alice's phone.
    visit = (
        "import json; from django.contrib.auth.models import User; from django.test import Client; "
        "client = Client(); client.force_login(User.objects.get(username='bob')); "
        f"print(json.dumps(client.get('/goods/{seen['goods']}/').json()))"
    )
    event_id = host.shell(visit)["event_id"]
    [message] = wait_for(
        lambda: messages_to(host, "alice-phone/1=="), 60, message="the push at alice's phone"
    )
    assert message["targets"] == ["alice-phone/1=="]
    fields = json.dumps(message["fields"], ensure_ascii=False)
    assert "bob" in fields and "紫砂茶壶" in fields and "com.example.shop" in fields
    wait_for(
        lambda: delivery_status(host, event_id) == "sent",
        60,
        interval=0.5,
        message="the delivery row sent",
    )


ANONYMOUS = """
import json
from django.contrib.auth.models import User
from django.test import Client
from pushworker.store.models import PushDevice
from shop.models import Goods
owner = User.objects.create_user("carol")
PushDevice.objects.create(user_id=str(owner.pk), app_name="shop", os_type="android")
goods = Goods.objects.create(owner=owner, name="竹编篮")
answer = Client().get(f"/goods/{goods.pk}/")
print(json.dumps({"owner": owner.pk, "status": answer.status_code, "body": answer.json()}))
"""


def test_an_anonymous_visit_on_the_readme_view_names_the_apps_anonymous_nickname(host) -> None:
    seen = host.shell(ANONYMOUS)
    assert seen["status"] == 200
    event_id = seen["body"]["event_id"]
    target = f"SHOP_{seen['owner']}"
    [message] = wait_for(lambda: messages_to(host, target), 60, message="the anonymous push")
    assert message["targets"] == [target]
    assert "一位顾客" in message["fields"]["description"]  # the app's ANONYMOUS_NICKNAME
    assert "竹编篮" in message["fields"]["description"]
    wait_for(
        lambda: delivery_status(host, event_id) == "sent",
        60,
        interval=0.5,
        message="the delivery row sent",
    )


# Erin chooses, over the shop's own session, to have goods visits in a daily summary; order
# shipped is the app's unmutable kind (the urgent one), which the API refuses to mute.
PREFERENCES = """
import json
from django.contrib.auth.models import User
from django.test import Client
from shop.models import Goods
erin = User.objects.create_user("erin", password="erin-pw")
frank = User.objects.create_user("frank", password="frank-pw")
goods = Goods.objects.create(owner=erin, name="青瓷花瓶")
client = Client(enforce_csrf_checks=True)
client.get("/admin/login/")
assert client.login(username="erin", password="erin-pw")
csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
path = f"/api/v1/users/{erin.pk}/preferences"

def send(method, url, body):
    answer = getattr(client, method)(url, json.dumps(body), content_type="application/json", **csrf)
    return [answer.status_code, answer.json()]

phone = {"user_id": str(erin.pk), "platform": "android", "registration_id": "erin-phone"}
chosen = {"kinds": {"goods_visit": "daily_summary"}, "time_zone": "Europe/Berlin"}
frank_client = Client()
frank_client.force_login(frank)
print(json.dumps({
    "erin": erin.pk,
    "phone": send("post", "/api/v1/devices", phone),
    "chosen": send("put", path, chosen),
    "muted": send("put", path, {"kinds": {"order_shipped": "off"}}),
    "franks_look": frank_client.get(path).status_code,
    "visits": [frank_client.get(f"/goods/{goods.pk}/").json()["event_id"] for _ in range(2)],
}))
"""
SHIPPED = """
import json
from pushworker.tasks import send_order_shipped
print(json.dumps(send_order_shipped.delay("{erin}", "o-9", "青瓷花瓶", "顺丰").id))
"""


def rows_of(host: Host, event_ids: list[str]) -> list[list]:
    """(status, error category, seconds since it ended) of each event's row."""
    return host.shell(
        "import json; from django.utils import timezone; "
        "from pushworker.store.models import Delivery; "
        f"rows = Delivery.objects.filter(event_id__in={event_ids!r}); "
        "print(json.dumps([[d.status, d.error_category, "
        "(timezone.now() - d.finished_at).total_seconds() if d.finished_at else None] "
        "for d in rows]))"
    )


def test_a_host_user_chooses_a_daily_summary_over_the_session_and_gets_one_summary(host) -> None:
    seen = host.shell(PREFERENCES)
    assert seen["phone"][0] == 201
    status, body = seen["chosen"]
    assert status == 200 and body["kinds"]["goods_visit"] == "daily_summary"
    assert body["effective"]["unmutable"] == ["order_shipped"]
    status, refused = seen["muted"]
    assert status == 400 and list(refused) == ["kinds.order_shipped"]
    assert seen["franks_look"] == 403  # another user's preferences

    # Frank's two visits are held for the summary; an order shipped still arrives at once.
    visits = seen["visits"]
    held = wait_for(
        lambda: (
            (found := rows_of(host, visits))
            and all(r[:2] == ["suppressed", "summary_pending"] for r in found)
            and found
        ),
        60,
        interval=0.5,
        message="the visits held for the summary",
    )
    assert len(held) == 2
    host.shell(SHIPPED.replace("{erin}", str(seen["erin"])))
    [shipped] = wait_for(lambda: messages_to(host, "erin-phone"), 60, message="the order shipped")
    assert shipped["fields"]["description"] == "您购买的【青瓷花瓶】已由顺丰发出"

    # Their hour comes: the host's beat makes the summary (once the held rows have settled) and
    # a drain sends it.
    wait_for(
        lambda: all(r[2] > 6 for r in rows_of(host, visits)), 30, message="the held rows settled"
    )
    host.shell(
        "import json; from django.utils import timezone; "
        "from pushworker.store.models import Recipient; "
        "print(Recipient.objects.update(summary_due_at=timezone.now()))"
    )
    summary = wait_for(lambda: messages_to(host, "erin-phone")[1:], 60, message="the daily summary")
    assert [m["fields"]["description"] for m in summary] == ["今天有 1 位用户浏览了您的 1 件商品"]
    assert summary[0]["fields"]["extra.link"].startswith("app://daily-summary?day=")
