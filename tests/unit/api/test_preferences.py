"""Specifies ``GET/PUT /api/v1/users/<user_id>/preferences`` (web/api/preferences.py): the body,
the 400s naming each field, the device API's authentication, and the document's schema."""

from __future__ import annotations

import jsonschema
import pytest
from rest_framework.test import APIClient

from pushworker.store.models import Preference, Recipient
from tests.unit.api.sessions import logged_in
from tests.unit.api.test_openapi import Conformance
from tests.unit.environment import CREDENTIALS

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.unit.api.host_urls")]
PATH = "/api/v1/users/{user_id}/preferences"
DEFAULTS = {
    "app": "qqc",
    "time_zone": None,
    "quiet_hours": None,
    "summary_hour": None,
    "kinds": {"goods_visit": "instant", "order_shipped": "instant"},
}


def url(user_id: str = "42", query: str = "") -> str:
    return PATH.format(user_id=user_id) + query


def put(client: APIClient, body, user_id: str = "42"):
    return client.put(url(user_id), body, format="json")


def test_a_recipient_who_chose_nothing_has_the_apps_defaults(backend) -> None:
    answer = backend.get(url())
    assert answer.status_code == 200
    body = answer.json()
    assert {k: v for k, v in body.items() if k != "effective"} == DEFAULTS
    assert body["effective"] == {
        "time_zone": "Asia/Shanghai",
        "quiet_hours": None,
        "summary_hour": 20,
        "next_summary_at": None,
        "unmutable": ["order_shipped"],
    }


def test_what_get_answers_is_what_put_takes_and_put_replaces_every_choice(backend) -> None:
    chosen = DEFAULTS | {
        "time_zone": "Europe/Berlin",
        "quiet_hours": "22:00-07:30",
        "summary_hour": 8,
        "kinds": {"goods_visit": "daily_summary", "order_shipped": "instant"},
    }
    saved = put(backend, chosen)
    assert saved.status_code == 200, saved.json()
    body = backend.get(url()).json()
    assert {k: v for k, v in body.items() if k != "effective"} == chosen
    assert body["effective"]["next_summary_at"].endswith(("+01:00", "+02:00"))  # Berlin's time
    assert body["effective"]["next_summary_at"][11:13] == "08"
    assert put(backend, body).status_code == 200  # the GET body back, "effective" and all
    assert put(backend, {"kinds": {"goods_visit": "off"}}).status_code == 200
    after = backend.get(url()).json()
    assert (after["time_zone"], after["quiet_hours"], after["summary_hour"]) == (None, None, None)
    assert after["kinds"]["goods_visit"] == "off"
    assert list(Preference.objects.values_list("kind", "mode")) == [("goods_visit", "off")]
    assert put(backend, {}).status_code == 200  # all defaults: no row at all
    assert not Recipient.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Base"}, "time_zone"),
        ({"time_zone": 8}, "time_zone"),
        ({"quiet_hours": "22:00-22:00"}, "quiet_hours"),
        ({"quiet_hours": "22-7"}, "quiet_hours"),
        ({"quiet_hours": "24:00-07:00"}, "quiet_hours"),
        ({"summary_hour": 24}, "summary_hour"),
        ({"summary_hour": "20"}, "summary_hour"),
        ({"summary_hour": True}, "summary_hour"),
        ({"summary_hour": 8.5}, "summary_hour"),
        ({"kinds": {"goods_visit": "sometimes"}}, "kinds.goods_visit"),
        ({"kinds": {"refund": "off"}}, "kinds.refund"),
        ({"kinds": {"daily_summary": "off"}}, "kinds.daily_summary"),
        ({"kinds": ["goods_visit"]}, "kinds"),
        ({"app": "nosuchapp"}, "app"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(backend, body, field) -> None:
    answer = put(backend, body)
    assert answer.status_code == 400
    assert set(answer.json()) == {field}, answer.json()
    assert not Recipient.objects.exists()


def test_muting_an_unmutable_kind_is_refused_naming_it(backend) -> None:
    answer = put(backend, {"kinds": {"goods_visit": "off", "order_shipped": "off"}})
    assert answer.status_code == 400
    assert answer.json() == {
        "kinds.order_shipped": [
            "order_shipped cannot be muted in app qqc: the app declares it UNMUTABLE, so it is "
            "always sent instantly"
        ]
    }
    assert put(backend, {"kinds": {"order_shipped": "instant"}}).status_code == 200


def test_an_app_that_declares_nothing_unmutable_lets_urgent_kinds_be_muted(
    backend, configure
) -> None:
    configure(**CREDENTIALS, PUSHWORKER_POLICY="UNMUTABLE=none")
    assert put(backend, {"kinds": {"order_shipped": "daily_summary"}}).status_code == 200


@pytest.mark.parametrize("user_id", ["-42", "a b", "x" * 65, "用户"])
def test_a_user_id_not_of_the_documented_form_is_a_400(backend, user_id) -> None:
    answer = backend.get(url(user_id))
    assert answer.status_code == 400 and set(answer.json()) == {"user_id"}


@pytest.mark.parametrize("query", ["?app=nosuchapp", "?app="])
def test_an_unknown_or_empty_app_is_a_400(backend, query) -> None:
    answer = backend.get(url(query=query))
    assert answer.status_code == 400 and set(answer.json()) == {"app"}


def test_a_body_that_is_not_an_object_is_a_400(backend) -> None:
    for body in ('["kinds"]', '"off"', "{"):
        answer = backend.put(url(), body, content_type="application/json")
        assert answer.status_code == 400, body


def test_a_user_manages_only_their_own_preferences_and_staff_anyones(settings) -> None:
    settings.PUSHWORKER_API_TOKEN = ""
    alice, bob, ops = logged_in("alice"), logged_in("bob"), logged_in("ops", staff=True)
    mine = str(alice.user.pk)
    assert put(alice, {"kinds": {"goods_visit": "off"}}, mine).status_code == 200
    assert alice.get(url(mine)).json()["kinds"]["goods_visit"] == "off"
    refused = put(bob, {"kinds": {"goods_visit": "instant"}}, mine)
    assert refused.status_code == 403
    assert f"preferences of user {mine}" in refused.json()["detail"]
    assert bob.get(url(mine)).status_code == 403
    assert ops.get(url(mine)).status_code == 200
    assert APIClient().get(url(mine)).status_code == 401


def test_a_session_put_without_the_csrf_token_is_refused(settings) -> None:
    settings.PUSHWORKER_API_TOKEN = ""
    alice = logged_in("alice", csrf=True)
    answer = put(alice, {"kinds": {"goods_visit": "off"}}, str(alice.user.pk))
    assert answer.status_code == 403 and "CSRF" in answer.json()["detail"]
    assert not Recipient.objects.exists()


def document() -> dict:
    return APIClient().get("/api/v1/openapi.json").json()


def test_every_documented_answer_is_given_and_conforms_to_the_document(backend) -> None:
    doc = Conformance(document())
    alice = logged_in("alice")
    body = {"kinds": {"goods_visit": "daily_summary"}, "quiet_hours": "23:00-06:00"}
    doc.request(PATH, "put", body)
    doc.check(PATH, "put", put(backend, body))  # 200
    doc.check(PATH, "put", put(backend, {"summary_hour": 99}))  # 400
    doc.check(PATH, "put", put(APIClient(), body))  # 401
    doc.check(PATH, "put", put(alice, body))  # 403
    doc.check(PATH, "put", put(backend, {"time_zone": "x" * 20_000}))  # 413
    doc.check(PATH, "put", backend.put(url(), "kinds=off", content_type="text/plain"))  # 415
    doc.check(PATH, "get", backend.get(url()))  # 200
    doc.check(PATH, "get", backend.get(url(query="?app=x")))  # 400
    doc.check(PATH, "get", APIClient().get(url()))  # 401
    doc.check(PATH, "get", alice.get(url()))  # 403
    assert not {seen for seen in doc.unseen() if seen[0] == PATH}


def test_the_document_refuses_muting_an_unmutable_kind_as_the_server_does() -> None:
    schema = document()["components"]["schemas"]
    request = jsonschema.Draft202012Validator({**schema["PreferencesRequest"], "$defs": {}})
    assert schema["PreferencesRequest"]["properties"]["kinds"]["properties"]["order_shipped"][
        "enum"
    ] == ["instant"]
    assert not request.is_valid({"kinds": {"goods_visit": "off"}, "extra": 1})


def test_apps_that_differ_get_a_rule_per_app_in_the_document(configure, settings) -> None:
    settings.PUSHWORKER = {
        "APPS": {
            "strict": {"ANDROID": {"APP_SECRET": "s1", "PACKAGE_NAME": "a.b"}},
            "lenient": {
                "ANDROID": {"APP_SECRET": "s2", "PACKAGE_NAME": "a.c"},
                "POLICY": {"UNMUTABLE": []},
            },
        },
        "DEFAULT_APP": "strict",
    }
    configure()
    doc = document()
    schema = {**doc["components"]["schemas"]["PreferencesRequest"], "components": doc["components"]}
    check = jsonschema.Draft202012Validator(schema)
    muted = {"kinds": {"order_shipped": "off"}}
    assert not check.is_valid(muted)  # the default app, strict
    assert not check.is_valid(muted | {"app": "strict"})
    assert check.is_valid(muted | {"app": "lenient"})
    backend = APIClient()
    from tests.unit.api.conftest import TOKEN

    backend.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert put(backend, muted).status_code == 400
    assert put(backend, muted | {"app": "lenient"}).status_code == 200
