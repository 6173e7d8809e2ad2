"""The MiPush HTTP client: one object per app secret, host chosen per request, typed errors out."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from pushworker.mipush import wire
from pushworker.mipush.auth import AppSecretAuth
from pushworker.mipush.codes import is_known_code
from pushworker.mipush.errors import ConfigurationError, MiPushError, translated_transport_errors
from pushworker.mipush.wire import TargetType

logger = logging.getLogger("pushworker.mipush")

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=5.0, write=5.0, pool=5.0)


class Environment(StrEnum):
    """Which Xiaomi host a request goes to. The sandbox serves iOS apps only."""

    PRODUCTION = "production"
    SANDBOX = "sandbox"


@dataclass(frozen=True)
class Endpoints:
    """Base URLs per environment; point both at an emulator to test (`http://127.0.0.1:PORT`)."""

    production: str = "https://api.xmpush.xiaomi.com"
    sandbox: str | None = "https://sandbox.xmpush.xiaomi.com"

    def __post_init__(self) -> None:
        for name in ("production", "sandbox"):
            url = getattr(self, name)
            if url is None and name == "sandbox":
                continue
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise ValueError(f"Endpoints.{name} must be an http(s) URL, got {url!r}")
            object.__setattr__(self, name, url.rstrip("/"))

    @classmethod
    def china(cls) -> Endpoints:
        return cls()

    @classmethod
    def global_default(cls) -> Endpoints:
        """Xiaomi's generic global host. There is no documented global sandbox."""
        return cls("https://api.xmpush.global.xiaomi.com", None)

    @classmethod
    def europe(cls) -> Endpoints:
        """EEA and UK devices (the docs' current, hyphenated host names)."""
        return cls("https://fr-api.xmpush.global.xiaomi.com", None)

    @classmethod
    def russia(cls) -> Endpoints:
        return cls("https://ru-api.xmpush.global.xiaomi.com", None)

    @classmethod
    def india(cls) -> Endpoints:
        return cls("https://idmb-api.xmpush.global.xiaomi.com", None)

    @classmethod
    def singapore(cls) -> Endpoints:
        """Devices in other overseas regions."""
        return cls("https://sgp-api.xmpush.global.xiaomi.com", None)

    def base_url(self, environment: Environment) -> str:
        url = self.production if environment is Environment.PRODUCTION else self.sandbox
        if url is None:
            raise ConfigurationError(f"no {environment.value} host configured in {self!r}")
        return url


@dataclass(frozen=True)
class SendResult:
    """One accepted request. `message_id` is Xiaomi's `data.id` (None if the body had none).

    `bad_regids`: the targets of a regid request Xiaomi named unknown in `data.bad_regids` while
    accepting it for the others (§4.1); empty for every other answer.
    `channel_exceed_quota`: Xiaomi's `data.channel_exceed_quota` as sent, e.g. "no_channel:2 a:3".
    A multi_messages request over the daily quota is not refused with 200001: it is answered
    code 0 with the messages dropped and counted here per channel id (None: nothing dropped).
    """

    message_id: str | None
    trace_id: str | None
    info: str | None
    description: str | None
    http_status: int
    bad_regids: tuple[str, ...] = ()
    channel_exceed_quota: str | None = None

    @property
    def quota_dropped(self) -> int | None:
        """Messages Xiaomi dropped over quota: 0 if none, None if the text is unreadable."""
        if not self.channel_exceed_quota:
            return 0
        counts = [part.rpartition(":")[2] for part in self.channel_exceed_quota.split()]
        return sum(int(count) for count in counts) if all(c.isdigit() for c in counts) else None


def _bad_regids(data: object) -> tuple[str, ...]:
    # Seen as a comma string; a JSON list is taken too rather than misread as one target.
    bad = data.get("bad_regids") if isinstance(data, dict) else None
    items = bad.split(",") if isinstance(bad, str) else bad if isinstance(bad, list) else []
    return tuple(str(item).strip() for item in items if str(item).strip())


_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay locked forever in the child.
    for client in list(_live_clients):
        client._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Client:
    """Sends to Xiaomi with one app secret; safe to share between threads and across fork().

    The keep-alive connection pool is created on first use and created anew in a forked child
    (Celery prefork). The parent's pool is left alone rather than closed: its sockets are shared
    with the parent, and closing a TLS connection would write to the parent's stream.
    """

    def __init__(
        self,
        app_secret: str | AppSecretAuth,
        *,
        endpoints: Endpoints = Endpoints(),  # frozen, so one shared default is safe
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(endpoints, Endpoints):
            raise TypeError(f"endpoints must be an Endpoints, got {type(endpoints).__name__}")
        # The secret is kept only inside the auth object (masked repr): no frame below this one
        # holds it in a local variable, so an error page listing locals cannot show it.
        self._auth = (
            app_secret if isinstance(app_secret, AppSecretAuth) else AppSecretAuth(app_secret)
        )
        self._endpoints = endpoints
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._transport = transport
        self._http: httpx.Client | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        _live_clients.add(self)

    def __repr__(self) -> str:
        return f"Client(app_secret='***', endpoints={self._endpoints!r})"

    @property
    def endpoints(self) -> Endpoints:
        return self._endpoints

    def close(self) -> None:
        """Close this process's connection pool; the next request opens a new one."""
        with self._lock:
            http, self._http = self._http, None
        if http is not None and self._pid == os.getpid():
            http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_to_alias(
        self,
        fields: Mapping[str, str],
        aliases: str | Iterable[str],
        *,
        environment: Environment = Environment.PRODUCTION,
    ) -> list[SendResult]:
        """Send one message to aliases; one SendResult per chunk of at most 1000 targets.

        A failed chunk raises its MiPushError with `.completed` holding the earlier chunks'
        results. Bad fields or targets raise InvalidMessageError before any request.
        """
        return self._send(TargetType.ALIAS, fields, aliases, environment)

    def send_to_regid(
        self,
        fields: Mapping[str, str],
        regids: str | Iterable[str],
        *,
        environment: Environment = Environment.PRODUCTION,
    ) -> list[SendResult]:
        """Like send_to_alias, addressed by registration id."""
        return self._send(TargetType.REGID, fields, regids, environment)

    def send_to_user_account(
        self,
        fields: Mapping[str, str],
        accounts: str | Iterable[str],
        *,
        environment: Environment = Environment.PRODUCTION,
    ) -> list[SendResult]:
        """Like send_to_alias, addressed by user account."""
        return self._send(TargetType.USER_ACCOUNT, fields, accounts, environment)

    def send_multi(
        self,
        items: Sequence[tuple[str, Mapping[str, str]]],
        *,
        target_type: TargetType | str,
        environment: Environment = Environment.PRODUCTION,
    ) -> list[SendResult]:
        """Send a different message to each target, all of one `target_type`.

        More than 1000 items are sent in chunks of 1000, like send_to_*: one SendResult per
        chunk, and `.completed` on the error of a failed chunk. Xiaomi answers a request with
        one message id and nothing per target, and refuses a request whole when one of its
        messages is bad (a BadRequestError such as 65011, or a ConfigurationError for 22022).
        """
        kind = wire.checked_target_type(target_type)
        _, field, multi_path = wire.ROUTES[kind]
        checked = wire.checked_items(field, items)
        return self._chunked(multi_path, environment, checked, wire.multi_messages_form)

    def message_status(
        self, msg_id: str, *, environment: Environment = Environment.PRODUCTION
    ) -> dict[str, Any]:
        """The trace record of one message (`data.data` of Xiaomi's answer) as a dict."""
        [msg_id] = wire.checked_targets("msg_id", msg_id)
        body, _ = self._request(
            "GET", Environment(environment), wire.STATUS_PATH, params={"msg_id": msg_id}, targets=0
        )
        data = body.get("data")
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            return dict(data["data"])
        return dict(data) if isinstance(data, dict) else {}

    def _send(
        self, kind: TargetType, fields: Mapping[str, str], targets: object, environment: Environment
    ) -> list[SendResult]:
        path, field, _ = wire.ROUTES[kind]
        form = wire.checked_fields(fields)
        checked = wire.checked_targets(field, targets)
        return self._chunked(
            path, environment, checked, lambda chunk: {**form, field: ",".join(chunk)}
        )

    def _chunked(
        self,
        path: str,
        environment: Environment,
        items: Sequence[Any],
        form_for: Callable[[Any], dict[str, str]],
    ) -> list[SendResult]:
        environment = Environment(environment)
        results: list[SendResult] = []
        for chunk in wire.chunks(items):
            try:
                body, status = self._request(
                    "POST", environment, path, form=form_for(chunk), targets=len(chunk)
                )
            except MiPushError as exc:
                exc.completed = list(results)
                raise
            data = body.get("data")
            data = data if isinstance(data, dict) else {}
            results.append(
                SendResult(
                    message_id=str(data["id"]) if "id" in data else None,
                    trace_id=wire.body_text(body, "trace_id"),
                    info=wire.body_text(body, "info"),
                    description=wire.body_text(body, "description"),
                    http_status=status,
                    bad_regids=_bad_regids(data),
                    channel_exceed_quota=wire.body_text(data, "channel_exceed_quota") or None,
                )
            )
        return results

    def _pool(self) -> httpx.Client:
        pid = os.getpid()
        with self._lock:
            if self._http is None or self._pid != pid:
                self._http = httpx.Client(
                    transport=self._transport,
                    timeout=self._timeout,
                    auth=self._auth,
                    follow_redirects=False,
                )
                self._pid = pid
            return self._http

    def _request(
        self,
        method: str,
        environment: Environment,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        targets: int,
    ) -> tuple[dict[str, Any], int]:
        log: dict[str, object] = {
            "mipush_path": path,
            "mipush_environment": environment.value,
            "mipush_targets": targets,
        }
        started = time.monotonic()
        try:
            url = self._endpoints.base_url(environment) + path
            content = None if form is None else wire.encode_form(form)
            with translated_transport_errors(scrub=self._auth.scrub):
                response = self._pool().request(
                    method,
                    url,
                    content=content,
                    params=params,
                    headers={"Content-Type": wire.FORM_CONTENT_TYPE},
                )
            body = wire.parse_response(response)
        except MiPushError as exc:
            log.update(
                mipush_code=exc.code,
                mipush_category=exc.category.value,
                mipush_trace_id=exc.trace_id,
                mipush_http_status=exc.http_status,
                mipush_maybe_delivered=exc.maybe_delivered,
                mipush_elapsed_ms=round((time.monotonic() - started) * 1000),
            )
            unknown = exc.code is not None and not is_known_code(exc.code)
            logger.warning(
                "mipush %s failed: %s%s",
                path,
                exc,
                " (code not in the table)" if unknown else "",
                extra=log,
            )
            raise
        log.update(
            mipush_code=0,
            mipush_trace_id=wire.body_text(body, "trace_id"),
            mipush_http_status=response.status_code,
            mipush_elapsed_ms=round((time.monotonic() - started) * 1000),
        )
        logger.debug("mipush %s accepted", path, extra=log)
        return body, response.status_code
