"""Request parsing and Xiaomi's message rules: targets, package names, required/bounded fields."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .apps import ANDROID, EmulatorApp
from .responses import Rejected

Form = dict[str, list[str]]

MAX_TARGETS = 1000
MAX_TITLE = 50  # title must be shorter than this (UTF-16 units)
MAX_DESCRIPTION = 128
MAX_PAYLOAD = 4096
MAX_EXTRAS = 10
MAX_EXTRA_LENGTH = 1024
MAX_NOTIFY_ID = 2147483647
MAX_SCHEDULE_MS = 7 * 24 * 3600 * 1000
EMPTY_REASON = "Title or Description is empty!"
INTEGER_FIELDS = ("pass_through", "notify_type", "notify_id", "time_to_live", "time_to_send")
NESTED_FIELDS = ("extra", "aps_proper_fields")  # objects in multi_messages JSON, flat elsewhere


@dataclass(frozen=True)
class TargetType:
    """How one kind of target appears on the wire: form field, `info` label, message-id letter."""

    name: str
    field: str
    label: str
    id_prefix: str
    empty_code: int


ALIAS = TargetType("alias", "alias", "ALIAS", "a", 65012)
REGID = TargetType("regid", "registration_id", "REGID", "s", 10016)
USER_ACCOUNT = TargetType("user_account", "user_account", "USER_ACCOUNT", "u", 65016)


def parse_form(query: Iterable[tuple[str, str]], body: bytes) -> Form:
    """Merge query-string and form-body parameters; repeated keys keep every value in order."""
    form: Form = {}
    for key, value in query:
        form.setdefault(key, []).append(value)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise Rejected(10017, "request parameters are not valid UTF-8") from exc
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


def split_values(values: Iterable[str]) -> list[str]:
    """Split comma-joined values and merge repeated keys, dropping blanks and duplicates."""
    seen: dict[str, None] = {}
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part:
                seen.setdefault(part, None)
    return list(seen)


def flat_fields(form: Form, skip: str) -> dict[str, str]:
    """The message fields of a form, one string each (repeated keys joined with commas)."""
    return {key: ",".join(values) for key, values in form.items() if key != skip}


def check_target_count(targets: list[str], target_type: TargetType) -> None:
    """Refuse an empty target list or more than Xiaomi's 1000 targets per request."""
    if not targets:
        raise Rejected(target_type.empty_code, f"{target_type.field} is empty")
    if len(targets) > MAX_TARGETS:
        raise Rejected(10017, f"too many targets: {len(targets)} > {MAX_TARGETS}")


def utf16_length(text: str) -> int:
    """Length as Xiaomi's Java server counts it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def validate_message(fields: dict[str, str], app: EmulatorApp) -> None:
    """Raise Rejected when `fields` break a rule the real server enforces for this app.

    Android notification messages (pass_through absent or 0) need a title and a description.
    iOS messages always need a description and never a title (§5.2: iOS has no title or
    pass_through; APNs needs an alert text), so pass_through is not consulted for iOS.
    """
    _check_package(fields.get("restricted_package_name", ""), app)
    _check_integers(fields)
    title, description = fields.get("title", ""), fields.get("description", "")
    if app.platform == ANDROID:
        if fields.get("pass_through", "0") != "1" and not (title.strip() and description.strip()):
            raise Rejected(65011, EMPTY_REASON)
    elif not description.strip():
        raise Rejected(65011, EMPTY_REASON)
    for name, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        length = utf16_length(fields.get(name, ""))
        if length >= limit:
            raise Rejected(65009, f"{name} is too long: {length} >= {limit}")
    if utf16_length(fields.get("payload", "")) > MAX_PAYLOAD:
        raise Rejected(65009, f"payload is longer than {MAX_PAYLOAD}")
    _check_extras(fields)


def _check_package(given: str, app: EmulatorApp) -> None:
    names = set(split_values([given]))
    if not names:
        if app.platform == ANDROID:
            raise Rejected(22022, "restricted_package_name is required for an Android app")
        return  # iOS messages usually omit it (§5.2); a given bundle id must still match
    if names != {app.package}:
        wrong = ",".join(sorted(names - {app.package})) or given
        raise Rejected(22022, f"Invalid package name: {wrong}")


def _check_integers(fields: dict[str, str]) -> None:
    for name in INTEGER_FIELDS:
        if name not in fields:
            continue
        try:
            value = int(fields[name])
        except ValueError:
            raise Rejected(10017, f"{name} must be an integer") from None
        if name == "pass_through" and value not in (0, 1):
            raise Rejected(10017, "pass_through must be 0 or 1")
        if name == "notify_id" and not 0 <= value <= MAX_NOTIFY_ID:
            raise Rejected(10017, f"notify_id must be within 0..{MAX_NOTIFY_ID}")
        if name == "time_to_send" and value > time.time() * 1000 + MAX_SCHEDULE_MS:
            raise Rejected(10017, "time_to_send must be within 7 days")


def _check_extras(fields: dict[str, str]) -> None:
    extras = {k: v for k, v in fields.items() if k.startswith("extra.")}
    if len(extras) > MAX_EXTRAS:
        raise Rejected(65014, f"too many extra key/values: {len(extras)} > {MAX_EXTRAS}")
    for key, value in extras.items():
        if len(key) - len("extra.") > MAX_EXTRA_LENGTH or len(value) > MAX_EXTRA_LENGTH:
            raise Rejected(65015, f"{key} is longer than {MAX_EXTRA_LENGTH}")


def parse_multi(form: Form) -> list[tuple[str, dict[str, str]]]:
    """Read `messages` (JSON list of {"target", "message"}) into (target, flat fields) pairs.

    Nested "extra"/"aps_proper_fields" objects become the `extra.<k>` fields a single send
    carries, so one validator serves both. An item without restricted_package_name inherits the
    form's (the Java SDK puts it inside each message; other clients may send it once).
    """
    raw = form.get("messages")
    if not raw:
        raise Rejected(10016, "messages is required")
    try:
        items = json.loads(raw[0])
    except (ValueError, RecursionError):  # deep nesting exhausts the decoder's recursion
        raise Rejected(10017, "messages is not valid JSON or is nested too deeply") from None
    if not isinstance(items, list) or not items:
        raise Rejected(10017, "messages must be a non-empty JSON array")
    if len(items) > MAX_TARGETS:
        raise Rejected(10017, f"too many messages: {len(items)} > {MAX_TARGETS}")
    package = ",".join(form.get("restricted_package_name", []))
    parsed = []
    for index, item in enumerate(items):
        target = item.get("target") if isinstance(item, dict) else None
        message = item.get("message") if isinstance(item, dict) else None
        if not isinstance(target, str) or not target.strip() or not isinstance(message, dict):
            raise Rejected(10017, f"messages[{index}] needs a string target and a message object")
        fields = _flatten(message, index)
        if package and "restricted_package_name" not in fields:
            fields["restricted_package_name"] = package
        parsed.append((target.strip(), fields))
    return parsed


def _flatten(message: dict[str, Any], index: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in message.items():
        if key in NESTED_FIELDS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                fields[f"{key}.{sub_key}"] = _scalar(sub_value, index)
        elif value is not None:
            fields[key] = _scalar(value, index)
    return fields


def _scalar(value: Any, index: int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int | float):
        return str(value)
    raise Rejected(10017, f"messages[{index}] has a nested value where a scalar is expected")
