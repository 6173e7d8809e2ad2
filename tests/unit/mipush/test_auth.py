"""Specifies AppSecretAuth: the key header on each request; no repr, pickle or frame shows it."""

from __future__ import annotations

import pickle

import httpx
import pytest

from pushworker.mipush import AppSecretAuth, Client, Endpoints, Message, MiPushError

SECRET = "s3cr3t-auth-secret"
FIELDS = (
    Message()
    .restricted_package_name("com.example.shop")
    .title("t")
    .description("d")
    .android_fields()
)


def test_the_auth_adds_the_key_header_and_its_repr_is_masked() -> None:
    auth = AppSecretAuth(SECRET)
    request = next(auth.auth_flow(httpx.Request("POST", "https://example.invalid/")))
    assert request.headers["authorization"] == f"key={SECRET}"
    assert SECRET not in repr(auth) and SECRET not in str(auth) and "***" in repr(auth)
    assert SECRET not in repr(request.headers)  # httpx masks the header itself


def test_the_auth_refuses_to_be_pickled() -> None:
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(AppSecretAuth(SECRET))


def test_a_client_accepts_an_auth_object_in_place_of_the_secret() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"result": "ok", "code": 0, "data": {"id": "m1"}})

    client = Client(AppSecretAuth(SECRET), transport=httpx.MockTransport(answer))
    client.send_to_alias(FIELDS, "a")
    assert seen == [f"key={SECRET}"]


def _locals_of_every_frame(error: BaseException) -> list[str]:
    texts = []
    while error is not None:
        tb = error.__traceback__
        while tb is not None:
            texts += [f"{name}={value!r}" for name, value in tb.tb_frame.f_locals.items()]
            tb = tb.tb_next
        error = error.__cause__ or error.__context__
    return texts


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"result": "error", "code": 21301, "reason": "bad secret"}),
    ],
    ids=["refused", "21301"],
)
def test_no_frame_of_a_failed_send_holds_the_secret_in_a_local_variable(answer: object) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    client = Client(
        SECRET, endpoints=Endpoints("http://127.0.0.1:9"), transport=httpx.MockTransport(reply)
    )
    with pytest.raises(MiPushError) as info:
        client.send_to_alias(FIELDS, "a")
    texts = _locals_of_every_frame(info.value)
    assert any("***" in text for text in texts)  # the client's and the auth's masked reprs
    assert not [text for text in texts if SECRET in text]
