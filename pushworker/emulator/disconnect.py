"""Abrupt connection endings for the hang and reset faults: an RST, not a polite close."""

from __future__ import annotations

import socket
import struct

from aiohttp import web

_RST_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


async def reset_mid_response(request: web.Request) -> web.StreamResponse:
    """Promise a 200 JSON body, send part of it, then reset the connection."""
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.content_length = 256  # promise more than is ever sent
    await response.prepare(request)
    await response.write(b'{"result":"ok","code":0,"data":{')
    reset_connection(request)
    return response


def reset_connection(request: web.Request) -> None:
    """Abort the request's connection with an RST (no-op when it is already closing)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
    transport.abort()
