"""The aiohttp application for one environment: Xiaomi's send and trace routes, auth, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from aiohttp import web

from . import admin, receipts
from .apps import ANDROID, EmulatorApp
from .disconnect import reset_connection, reset_mid_response
from .faults import (
    HANG,
    QUOTA,
    RESET,
    SANDBOX,
    XIAOMI_FAULTS,
    FaultState,
    channel_exceed_quota,
    http_status,
)
from .responses import DAY_QUOTA, Rejected, encode, error_body, new_id, new_trace_id, ok_body
from .state import DEFAULT_TTL_MS, Recorder, TraceEntry
from .validation import (
    ALIAS,
    REGID,
    USER_ACCOUNT,
    Form,
    TargetType,
    check_target_count,
    flat_fields,
    parse_form,
    parse_multi,
    split_values,
    validate_message,
)

SEND_ROUTES = (
    ("/v2/message/alias", ALIAS, False),
    ("/v3/message/alias", ALIAS, False),
    ("/v2/message/regid", REGID, False),
    ("/v3/message/regid", REGID, False),
    ("/v2/message/user_account", USER_ACCOUNT, False),
    ("/v2/multi_messages/aliases", ALIAS, True),
    ("/v2/multi_messages/regids", REGID, True),
    ("/v2/multi_messages/user_accounts", USER_ACCOUNT, True),
)
TRACE_PATH = "/v1/trace/message/status"
XIAOMI_TZ = timezone(timedelta(hours=8))  # create_time is Beijing wall-clock time


@dataclass
class Core:
    """State shared by both environments' applications and the Python-side Emulator."""

    apps: dict[str, EmulatorApp]
    known_targets: frozenset[str] | None
    faults: FaultState
    recorder: Recorder
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def is_known(self, target: str) -> bool:
        known = self.known_targets
        return known is None or target in known


def build_app(core: Core, environment: str) -> web.Application:
    """One aiohttp application; production and sandbox each get their own over one Core."""
    api = _Api(core, environment)
    app = web.Application()
    for path, target_type, multi in SEND_ROUTES:
        app.router.add_post(path, partial(api.send, target_type=target_type, multi=multi))
    app.router.add_get(TRACE_PATH, api.trace)
    admin.add_routes(app, core.faults, core.recorder)
    return app


class _Api:
    def __init__(self, core: Core, environment: str) -> None:
        self.core = core
        self.environment = environment

    async def send(
        self, request: web.Request, target_type: TargetType, multi: bool
    ) -> web.StreamResponse:
        try:
            form = parse_form(request.query.items(), await request.read())
        except Rejected as exc:
            return self._error(request, exc)
        scope = _scope_targets(form, target_type, multi)
        delay = self.core.faults.latency(self.environment, scope)
        fault = self.core.faults.draw(self.environment, scope)
        if fault is not None:
            await asyncio.sleep(delay)
            if fault == QUOTA and multi:
                return self._over_quota(request, form, target_type)
            return await self._fault(request, fault)
        try:
            app = self._authenticate(request)
            accept = self._accept_multi if multi else self._accept_single
            response = self._ok(request, accept(form, app, target_type, request.path))
        except Rejected as exc:
            response = self._error(request, exc)
        # Latency delays the answer, not the work: the send is already recorded, so a client
        # that times out meanwhile has delivered anyway, as with a slow real server.
        if delay:
            await asyncio.sleep(delay)
        return response

    async def trace(self, request: web.Request) -> web.StreamResponse:
        try:
            app = self._authenticate(request)
            response = self._ok(request, self._status(request.query.get("msg_id", ""), app))
        except Rejected as exc:
            response = self._error(request, exc)
        delay = self.core.faults.latency(self.environment)
        if delay:
            await asyncio.sleep(delay)
        return response

    def _authenticate(self, request: web.Request) -> EmulatorApp:
        header = request.headers.get("Authorization", "")
        # Xiaomi requires the lowercase word "key"; "Key=" is refused like a wrong secret.
        app = self.core.apps.get(header[4:]) if header.startswith("key=") else None
        if app is None:
            raise Rejected(21301, "Invalid application secret.")
        if self.environment == SANDBOX and app.platform == ANDROID:
            raise Rejected(22000, "The sandbox environment serves iOS apps only")
        return app

    def _accept_single(
        self, form: Form, app: EmulatorApp, target_type: TargetType, path: str
    ) -> dict[str, Any]:
        targets = split_values(form.get(target_type.field, []))
        check_target_count(targets, target_type)
        fields = flat_fields(form, skip=target_type.field)
        validate_message(fields, app)
        known = [t for t in targets if self.core.is_known(t)]
        dropped = [t for t in targets if not self.core.is_known(t)]
        return self._accept(app, target_type, path, [(known, dropped, fields)], multi=False)

    def _accept_multi(
        self, form: Form, app: EmulatorApp, target_type: TargetType, path: str
    ) -> dict[str, Any]:
        items = parse_multi(form)
        for _, fields in items:  # every item before any is recorded: one bad one refuses all
            validate_message(fields, app)
        # Each item is its own record under the request's one id; an unknown target's record
        # holds it as dropped, so its invalid-target receipt carries its own callback param.
        sends = [([t], [], f) if self.core.is_known(t) else ([], [t], f) for t, f in items]
        return self._accept(app, target_type, path, sends, multi=True)

    def _accept(
        self,
        app: EmulatorApp,
        target_type: TargetType,
        path: str,
        sends: list[tuple[list[str], list[str], dict[str, str]]],
        *,
        multi: bool,
    ) -> dict[str, Any]:
        count = sum(len(targets) for targets, _, _ in sends)
        if not count:
            raise Rejected(20301, "No valid targets!")
        message_id, trace_id, now = new_id(target_type.id_prefix), new_trace_id(), time.time()
        records = [
            {
                "environment": self.environment,
                "package": app.package,
                "platform": app.platform,
                "path": path,
                "target_type": target_type.name,
                "targets": targets,
                "dropped_targets": dropped,
                "fields": fields,
                "message_id": message_id,
                "trace_id": trace_id,
                "received_at": now,
            }
            for targets, dropped, fields in sends
        ]
        ttl = _int_or(sends[0][2].get("time_to_live"), DEFAULT_TTL_MS)
        entry = TraceEntry(self.environment, app.package, app.platform, int(now * 1000), ttl, count)
        self.core.recorder.add_messages(records, entry)
        receipts.post_later(records, target_type.name)
        info = f"Received push messages for {count} {target_type.label}"
        data: dict[str, Any] = {"id": message_id}
        if sends[0][1] and target_type is REGID and not multi:
            # Xiaomi names a regid list's unknown targets and still sends to the others (§4.1);
            # no per-target field was found for multi_messages, so none is invented here.
            data["bad_regids"] = ",".join(sends[0][1])
        return ok_body(info=info, data=data, trace_id=trace_id)

    def _over_quota(self, request: web.Request, form: Form, kind: TargetType) -> web.Response:
        # Accepted with an id, nothing delivered or recorded: every item is over quota.
        try:
            items = parse_multi(form)
        except Rejected as exc:
            return self._error(request, exc)
        self._count(request, "fault", code=0, fault=QUOTA)
        exceeded = channel_exceed_quota(fields.get("extra.channel_id") for _, fields in items)
        data = {"id": new_id(kind.id_prefix), "channel_exceed_quota": exceeded}
        info = f"Received push messages for {len(items)} {kind.label}"
        return _json(ok_body(info=info, data=data))

    def _status(self, message_id: str, app: EmulatorApp) -> dict[str, Any]:
        if not message_id:
            raise Rejected(10016, "msg_id is required (job_key lookups are not emulated)")
        entry = self.core.recorder.trace(message_id)
        owner = (self.environment, app.package, app.platform)
        if entry is None or (entry.environment, entry.package, entry.platform) != owner:
            raise Rejected(65028, f"message {message_id} not found")
        created = datetime.fromtimestamp(entry.created_ms / 1000, XIAOMI_TZ)
        status = {
            "id": message_id,
            "create_time": created.strftime("%Y-%m-%d %H:%M:%S"),
            "create_timestamp": entry.created_ms,
            "time_to_live": f"{entry.time_to_live_ms // 1000}s",
            "msg_type": "Common",
            # The emulator "delivers" instantly to every accepted target and nobody clicks.
            "delivered": entry.targets,
            "delivery_rate": "100%",
            "click": 0,
            "click_rate": "0%",
            "resolved": entry.targets,
            "invalid_target": 0,
            "raw_counter": entry.targets,
            "bar_closed": 0,
            "device_condition_unmatch": 0,
            "app_not_register": 0,
        }
        return ok_body(data={"data": status})

    def _count(
        self,
        request: web.Request,
        outcome: str,
        code: int | None = None,
        fault: str | None = None,
        status: int | None = 200,
    ) -> None:
        self.core.recorder.count_request(
            self.environment, request.method, request.path, outcome, code, fault, status
        )

    def _ok(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        self._count(request, "ok", code=0)
        return _json(body)

    def _error(self, request: web.Request, exc: Rejected) -> web.Response:
        self._count(request, "error", code=exc.code)
        return _json(error_body(exc.code, exc.reason))

    async def _fault(self, request: web.Request, kind: str) -> web.StreamResponse:
        xiaomi = XIAOMI_FAULTS.get(kind)
        status = http_status(kind) or (200 if xiaomi else None)
        self._count(request, "fault", code=xiaomi and xiaomi[0], fault=kind, status=status)
        if kind == HANG:
            # Cancelled when the client disconnects (handler_cancellation); `closing` releases
            # it at shutdown so stop() never waits for a client that is itself waiting.
            await self.core.closing.wait()
            reset_connection(request)
            return web.Response(status=503)
        if kind == RESET:
            return await reset_mid_response(request)
        if xiaomi:
            return _json(error_body(xiaomi[0], xiaomi[1].format(quota=DAY_QUOTA)))
        page = f"<html><body><h1>{status} Server Error</h1></body></html>"
        return web.Response(status=status or 500, text=page, content_type="text/html")


def _scope_targets(form: Form, target_type: TargetType, multi: bool) -> list[str]:
    """The targets a fault's `target` filter matches; unparseable requests match none."""
    if not multi:
        return split_values(form.get(target_type.field, []))
    try:
        return [target for target, _ in parse_multi(form)]
    except Rejected:
        return []


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _json(body: dict[str, Any] | list[Any]) -> web.Response:
    return web.Response(body=encode(body), content_type="application/json", charset="utf-8")


def known_set(targets: Iterable[str] | None) -> frozenset[str] | None:
    """Normalise a known-targets argument: None keeps "every target exists"."""
    return None if targets is None else frozenset(targets)
