"""Views for the DEBUG-page test: each calls the MiPush client or the SDK bridge and fails."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path

from pushworker.mipush import Client, Endpoints, Message
from pushworker.mipush.compat import APISender, PushMessage

# The secrets the views send with; the test checks that none of them reaches the page.
SECRETS = {
    "refused": "refused-secret-9a8b7c6d5e",
    "rejected": "unknown-secret-1f2e3d4c5b",
    "bridge": "bridge-secret-0a1b2c3d4e",
    "malformed": "malformed secret 7c6b5a4d3e",
}
FIELDS = (
    Message()
    .restricted_package_name("com.example.shop")
    .title("t")
    .description("d")
    .android_fields()
)


def refused(request: HttpRequest) -> HttpResponse:
    """Nothing listens at DEBUG_PAGE_REFUSED_URL: the connection is refused."""
    client = Client(
        SECRETS["refused"], endpoints=Endpoints(os.environ["DEBUG_PAGE_REFUSED_URL"], None)
    )
    client.send_to_alias(FIELDS, "QQC_1")
    return HttpResponse("unreachable")


def rejected(request: HttpRequest) -> HttpResponse:
    """The emulator does not know this secret and answers code 21301."""
    client = Client(
        SECRETS["rejected"], endpoints=Endpoints(os.environ["MIPUSH_PRODUCTION_URL"], None)
    )
    client.send_to_alias(FIELDS, "QQC_1")
    return HttpResponse("unreachable")


def bridge(request: HttpRequest) -> HttpResponse:
    """Code written for the old SDK, against the emulator (MIPUSH_PRODUCTION_URL): 21301."""
    message = (
        PushMessage()
        .restricted_package_name("com.example.shop")
        .title("t")
        .description("d")
        .message_dict()
    )
    APISender(SECRETS["bridge"]).send_to_alias(message, "QQC_1", retry_times=1)
    return HttpResponse("unreachable")


def malformed(request: HttpRequest) -> HttpResponse:
    """A secret with a space is refused by Client() itself, before any request."""
    Client(SECRETS["malformed"])
    return HttpResponse("unreachable")


urlpatterns = [
    path("refused/", refused),
    path("rejected/", rejected),
    path("bridge/", bridge),
    path("malformed/", malformed),
]
