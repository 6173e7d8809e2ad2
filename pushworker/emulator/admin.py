"""The /_emulator/* routes: inspect messages, requests and counters; set faults; reset."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .faults import Faults, FaultState
from .responses import encode
from .state import Recorder

PREFIX = "/_emulator"


def add_routes(app: web.Application, faults: FaultState, recorder: Recorder) -> None:
    """Mount the admin routes. They are not Xiaomi routes: no auth, no faults, not counted."""

    async def get_faults(request: web.Request) -> web.Response:
        return _json(faults.get().to_json())

    async def post_faults(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):  # deep nesting exhausts the decoder's recursion
            return _json({"error": "the body is not valid JSON or is nested too deeply"}, 400)
        try:
            new = Faults.from_json(data)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)
        faults.set(new)
        return _json(faults.get().to_json())

    async def get_messages(request: web.Request) -> web.Response:
        return _json({"messages": recorder.messages()})

    async def get_requests(request: web.Request) -> web.Response:
        return _json({"requests": recorder.requests()})

    async def get_stats(request: web.Request) -> web.Response:
        return _json(recorder.stats())

    async def post_reset(request: web.Request) -> web.Response:
        recorder.reset()
        faults.set(Faults())
        return _json({"reset": True})

    app.router.add_get(f"{PREFIX}/faults", get_faults)
    app.router.add_post(f"{PREFIX}/faults", post_faults)
    app.router.add_get(f"{PREFIX}/messages", get_messages)
    app.router.add_get(f"{PREFIX}/requests", get_requests)
    app.router.add_get(f"{PREFIX}/stats", get_stats)
    app.router.add_post(f"{PREFIX}/reset", post_reset)


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=encode(body), status=status, content_type="application/json", charset="utf-8"
    )
