"""Device tokens out of request lines: a registration id in a device path, the receipts token.

A registration id is a device token, and the receipts path holds ``RECEIPTS_TOKEN``: gunicorn's
access log and Django's own request lines (``Unauthorized: /api/v1/devices/…``) show where they
were, never the values themselves.
"""

from __future__ import annotations

import logging
import re

_DEVICE_PATH = re.compile(r"(/api/v1/(?:devices|receipts)/)[^ ?\"']+")


def mask(text: str) -> str:
    """``text`` with the token in every device or receipts path replaced by ``…``."""
    return _DEVICE_PATH.sub(r"\1…", text)


class RequestLineFilter(logging.Filter):
    """For the log handlers: Django's request lines (``django.request``, ``django.security``)
    masked, and their ``request`` object shown as its method and masked path only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django."):
            record.msg, record.args = mask(record.getMessage()), None
            request = getattr(record, "request", None)
            if request is not None and not isinstance(request, str):
                method, path = getattr(request, "method", ""), getattr(request, "path", "")
                record.request = mask(f"{method} {path}".strip())
        return True
