"""The MiPush message builder: SDK-style setters, Xiaomi's limits, the wire fields per platform.

Lengths are counted in UTF-16 code units (`utf16_length`), because Xiaomi's server is written in
Java, whose `String.length()` counts UTF-16 units: an emoji outside the Basic Multilingual Plane
counts 2, a CJK character or a Latin letter counts 1. Emoji are allowed; control characters
(U+0000-U+001F, U+007F-U+009F, newline and tab included) are refused.

Type and single-field checks happen in the setter, so the error points at the line that set the
bad value. Checks that need the whole message or the current time (required fields, the extras
count, the time_to_send window) happen in `android_fields()` / `ios_fields()`. Either way an
`InvalidMessageError` naming the field is raised before anything is sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Self

from pushworker.mipush.errors import InvalidMessageError, MessageTypeError

TITLE_MAX_UNITS = 49  # "title length < 50" (current doc)
DESCRIPTION_MAX_UNITS = 127  # "description length < 128"
EXTRA_MAX_PAIRS = 10
EXTRA_MAX_UNITS = 1024  # per key and per value
SCHEDULE_MAX_AHEAD_MS = 7 * 24 * 3600 * 1000
SCHEDULE_PAST_TOLERANCE_MS = 60_000  # clock skew between us and Xiaomi

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# Fields that only mean something on one platform (mipush-api.md §5.1, §5.2). The other
# platform's output leaves them out, so one Message can be built for both.
_ANDROID_ONLY = ("title", "payload", "pass_through", "notify_type", "notify_id")


def utf16_length(text: str) -> int:
    """Length as Java counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise MessageTypeError(field, f"must be a str, got {type(value).__name__}")
    return value


def _int(field: str, value: object, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessageTypeError(field, f"must be an int, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise InvalidMessageError(field, f"must be {bounds}, got {value}")
    return value


def _text(field: str, value: object, max_units: int | None = None) -> str:
    text = _str(field, value)
    if _CONTROL.search(text):
        raise InvalidMessageError(field, "contains a control character")
    if max_units is not None and utf16_length(text) > max_units:
        raise InvalidMessageError(
            field, f"is {utf16_length(text)} UTF-16 units long; at most {max_units} allowed"
        )
    return text


def _extra_value(key: str, value: object) -> str:
    field = f"extra.{key}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise MessageTypeError(field, f"must be a str or an int, got {type(value).__name__}")
    return _text(field, value, EXTRA_MAX_UNITS)


class Message:
    """A push message built like the old SDK's PushMessage; every setter returns `self`.

    Nothing is sent from here: pass `android_fields()` or `ios_fields()` to the Client.
    """

    def __init__(self) -> None:
        self._common: dict[str, str] = {}
        self._extras: dict[str, str] = {}
        self._android_extras: dict[str, str] = {}
        self._ios_extras: dict[str, str] = {}
        self._aps: dict[str, str] = {}
        self._pass_through = 0
        self._time_to_send: int | None = None

    def restricted_package_name(self, name: str | Sequence[str]) -> Self:
        """One package name (bundle id on iOS), or several as a list (sent comma-joined, v3)."""
        names = [name] if isinstance(name, str) else name
        if not isinstance(names, Sequence) or not names:
            raise MessageTypeError("restricted_package_name", "must be a str or a non-empty list")
        for item in names:
            text = _text("restricted_package_name", item)
            if not text.strip() or "," in text or text != text.strip():
                raise InvalidMessageError(
                    "restricted_package_name", f"{text!r} is empty or has commas or spaces"
                )
        self._common["restricted_package_name"] = ",".join(names)
        return self

    def title(self, title: str) -> Self:
        self._common["title"] = _text("title", title, TITLE_MAX_UNITS)
        return self

    def description(self, description: str) -> Self:
        self._common["description"] = _text("description", description, DESCRIPTION_MAX_UNITS)
        return self

    def pass_through(self, pass_through: int = 0) -> Self:
        """0: notification bar (the default); 1: pass-through to the app."""
        self._pass_through = _int("pass_through", pass_through, 0, 1)
        self._common["pass_through"] = str(self._pass_through)
        return self

    def payload(self, payload: str) -> Self:
        self._common["payload"] = _str("payload", payload)
        return self

    def notify_type(self, notify_type: int) -> Self:
        """-1 for all, or an OR of 1 (sound), 2 (vibrate), 4 (lights)."""
        self._common["notify_type"] = str(_int("notify_type", notify_type, -1, 7))
        return self

    def notify_id(self, notify_id: int = 0) -> Self:
        """A later message with the same id replaces the earlier notification."""
        self._common["notify_id"] = str(_int("notify_id", notify_id, 0))
        return self

    def time_to_live(self, milliseconds: int) -> Self:
        self._common["time_to_live"] = str(_int("time_to_live", milliseconds, 1))
        return self

    def time_to_send(self, epoch_ms: int) -> Self:
        """Schedule the send (epoch milliseconds, within 7 days; checked at output time)."""
        self._time_to_send = _int("time_to_send", epoch_ms, 0)
        self._common["time_to_send"] = str(epoch_ms)
        return self

    def extra(self, extras: Mapping[str, str | int]) -> Self:
        if not isinstance(extras, Mapping):
            raise MessageTypeError("extra", f"must be a mapping, got {type(extras).__name__}")
        for key, value in extras.items():
            self.extra_element(key, value)
        return self

    def extra_element(self, key: str, value: str | int) -> Self:
        key = _text("extra key", key, EXTRA_MAX_UNITS)
        if not key.strip():
            raise InvalidMessageError("extra key", "must not be empty")
        text = _extra_value(key, value)
        if key not in self._extras and len(self._extras) >= EXTRA_MAX_PAIRS:
            raise InvalidMessageError("extra", f"more than {EXTRA_MAX_PAIRS} key/value pairs")
        self._extras[key] = text
        return self

    def badge(self, badge: int) -> Self:
        """iOS badge number (extra.badge)."""
        self._ios_extras["badge"] = str(_int("badge", badge, 0))
        return self

    def sound_url(self, sound_url: str) -> Self:
        """iOS sound name (extra.sound_url): "default" for the system sound, "" for silence."""
        self._ios_extras["sound_url"] = _text("sound_url", sound_url, EXTRA_MAX_UNITS)
        return self

    def category(self, category: str) -> Self:
        """iOS notification category (extra.category)."""
        self._ios_extras["category"] = _text("category", category, EXTRA_MAX_UNITS)
        return self

    def channel_id(self, channel_id: str) -> Self:
        """Android notification channel registered with Xiaomi (extra.channel_id)."""
        channel = _text("channel_id", channel_id, EXTRA_MAX_UNITS)
        if not channel.strip():
            raise InvalidMessageError("channel_id", "must not be empty")
        self._android_extras["channel_id"] = channel
        return self

    def aps_title(self, title: str) -> Self:
        self._aps["title"] = _text("aps_proper_fields.title", title)
        return self

    def aps_subtitle(self, subtitle: str) -> Self:
        self._aps["subtitle"] = _text("aps_proper_fields.subtitle", subtitle)
        return self

    def aps_body(self, body: str) -> Self:
        self._aps["body"] = _text("aps_proper_fields.body", body)
        return self

    def aps_mutable_content(self, mutable_content: int = 1) -> Self:
        value = _int("aps_proper_fields.mutable-content", mutable_content, 0, 1)
        self._aps["mutable-content"] = str(value)
        return self

    def android_fields(self) -> dict[str, str]:
        """The Android form fields, validated; a new dict on every call.

        Leaves out the iOS-only settings (badge, sound_url, category, aps_*). Requires
        restricted_package_name, and a non-blank title and description unless pass_through is 1.
        """
        if "restricted_package_name" not in self._common:
            raise InvalidMessageError("restricted_package_name", "is required on Android")
        if self._pass_through == 0:
            for field in ("title", "description"):
                if not self._common.get(field, "").strip():
                    raise InvalidMessageError(field, "is required (non-blank) for a notification")
        return self._fields(dict(self._common), self._android_extras, aps={})

    def ios_fields(self) -> dict[str, str]:
        """The iOS form fields, validated; a new dict on every call.

        Leaves out the Android-only settings (title, payload, pass_through, notify_*,
        channel_id); restricted_package_name (the bundle id) is kept when set. Requires a
        non-blank description even with an aps body: Xiaomi's iOS builder treats it as the
        required alert text, and older iOS versions show nothing else.
        """
        if not self._common.get("description", "").strip():
            raise InvalidMessageError("description", "is required (non-blank) on iOS")
        common = {k: v for k, v in self._common.items() if k not in _ANDROID_ONLY}
        return self._fields(common, self._ios_extras, aps=self._aps)

    def _fields(
        self,
        fields: dict[str, str],
        platform_extras: dict[str, str],
        aps: dict[str, str],
    ) -> dict[str, str]:
        self._check_schedule()
        extras = {**self._extras, **platform_extras}
        if len(extras) > EXTRA_MAX_PAIRS:
            raise InvalidMessageError(
                "extra",
                f"{len(extras)} key/value pairs; at most "
                f"{EXTRA_MAX_PAIRS} allowed (badge, channel_id... count)",
            )
        fields.update((f"extra.{key}", value) for key, value in extras.items())
        fields.update((f"aps_proper_fields.{key}", value) for key, value in aps.items())
        return fields

    def _check_schedule(self) -> None:
        if self._time_to_send is None:
            return
        now_ms = int(time.time() * 1000)
        if self._time_to_send < now_ms - SCHEDULE_PAST_TOLERANCE_MS:
            raise InvalidMessageError("time_to_send", "is in the past (expects epoch milliseconds)")
        if self._time_to_send > now_ms + SCHEDULE_MAX_AHEAD_MS:
            raise InvalidMessageError("time_to_send", "is more than 7 days from now")
