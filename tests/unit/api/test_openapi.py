"""Specifies /api/v1/openapi.json: a valid OpenAPI 3.1 document that the real answers conform to."""

from __future__ import annotations

import jsonschema
import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.unit.api.host_urls")]
DEVICES = "/api/v1/devices"
DEVICE = "/api/v1/devices/{registration_id}"
PREFERENCES = "/api/v1/users/{user_id}/preferences"  # its answers: test_preferences.py


@pytest.fixture
def document() -> dict:
    response = APIClient().get("/api/v1/openapi.json")  # public: no credentials needed
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


class Conformance:
    """Checks real answers against the document and remembers which documented ones were seen."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.seen: set[tuple[str, str, str]] = set()

    def schema(self, part: dict) -> dict:
        # The components ride along so that "#/components/..." references resolve.
        return {**part, "components": self.document["components"]}

    def request(self, path: str, method: str, body: dict) -> None:
        operation = self.document["paths"][path][method]
        part = operation["requestBody"]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator(self.schema(part)).validate(body)

    def check(self, path: str, method: str, response) -> None:
        responses = self.document["paths"][path][method]["responses"]
        status = str(response.status_code)
        assert status in responses, f"{method.upper()} {path} answered {status}, undocumented"
        self.seen.add((path, method, status))
        content = responses[status].get("content")
        if content is None:
            assert not response.content
            return
        part = content["application/json"]["schema"]
        jsonschema.Draft202012Validator(self.schema(part)).validate(response.json())

    def unseen(self) -> set[tuple[str, str, str]]:
        documented = {
            (path, method, status)
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
        }
        return documented - self.seen


def test_the_document_is_valid_openapi_3_1_with_the_bearer_token_scheme(document) -> None:
    validate_schema(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {DEVICES, DEVICE, PREFERENCES}
    assert document["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "PUSHWORKER_API_TOKEN of the pushworker service",
    }


def test_every_documented_answer_is_given_and_conforms_to_the_document(document) -> None:
    from tests.unit.api.conftest import TOKEN

    doc = Conformance(document)
    backend = APIClient()
    backend.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    alice = get_user_model().objects.create_user("alice")
    session = APIClient()
    session.force_login(alice)

    body = {"user_id": "42", "platform": "ios", "registration_id": "r/1", "alias": "A"}
    doc.request(DEVICES, "post", body)
    doc.check(DEVICES, "post", backend.post(DEVICES, body, format="json"))  # 201
    body |= {"ios_environment": "sandbox", "app": "qqc"}
    doc.request(DEVICES, "post", body)
    doc.check(DEVICES, "post", backend.post(DEVICES, body, format="json"))  # 200
    doc.check(DEVICES, "post", backend.post(DEVICES, {"platform": "x"}, format="json"))  # 400
    doc.check(DEVICES, "post", backend.post(DEVICES, "{", content_type="application/json"))
    doc.check(DEVICES, "post", APIClient().post(DEVICES, body, format="json"))  # 401
    doc.check(DEVICES, "post", session.post(DEVICES, body, format="json"))  # 403
    huge = {"user_id": "42", "platform": "ios", "alias": "A" * 20_000}
    doc.check(DEVICES, "post", backend.post(DEVICES, huge, format="json"))  # 413
    doc.check(DEVICES, "post", backend.post(DEVICES, "user_id=42", content_type="text/plain"))

    doc.check(DEVICES, "get", backend.get(DEVICES, {"user_id": "42"}))  # 200
    doc.check(DEVICES, "get", backend.get(DEVICES))  # 400
    doc.check(DEVICES, "get", APIClient().get(DEVICES))  # 401
    doc.check(DEVICES, "get", session.get(DEVICES, {"user_id": "42"}))  # 403

    doc.check(DEVICE, "delete", backend.delete(f"{DEVICES}/r/1?app=nosuchapp"))  # 400
    doc.check(DEVICE, "delete", APIClient().delete(f"{DEVICES}/r/1"))  # 401
    doc.check(DEVICE, "delete", session.delete(f"{DEVICES}/r/1"))  # 403
    doc.check(DEVICE, "delete", backend.delete(f"{DEVICES}/r/1"))  # 204
    doc.check(DEVICE, "delete", backend.delete(f"{DEVICES}/r/1"))  # 404

    assert not {seen for seen in doc.unseen() if seen[0] != PREFERENCES}


def test_the_document_lists_the_configured_apps_and_the_id_forms_the_server_enforces(
    document, configure, settings
) -> None:
    keys = {"ANDROID": {"APP_SECRET": "s1", "PACKAGE_NAME": "com.a"}}
    settings.PUSHWORKER = {"DEFAULT_APP": "qqc", "APPS": {"qqc": keys, "shop2": keys}}
    configure()
    document = APIClient().get("/api/v1/openapi.json").json()
    assert document["components"]["schemas"]["AppEnum"]["enum"] == ["qqc", "shop2"]
    body = document["components"]["schemas"]["RegistrationRequest"]
    assert body["additionalProperties"] is False
    assert body["properties"]["user_id"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"
    [path] = [p for p in document["paths"][DEVICE]["delete"]["parameters"] if p["in"] == "path"]
    assert path["schema"]["pattern"] == "^[\\x21-\\x2b\\x2d-\\x7e]{1,255}$"
