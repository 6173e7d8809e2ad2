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
