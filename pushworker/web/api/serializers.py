"""The device API's request and response bodies: every bad field is named in a 400 answer.

Everything is checked here, before any query: a value the database would refuse (a comma in a
target, NUL) or that Xiaomi would misread (a bidi control, a float for an id) never gets further.
Each field's rule is one regular expression, and the OpenAPI document shows that same expression
as the field's ``pattern`` (and the configured apps as ``app``'s ``enum``), so the document says
exactly what the server enforces. Patterns are anchored with ``^…$`` for the document and matched
whole here (Python's ``$`` would let a trailing newline through).
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from pushworker import conf
from pushworker.store.models import Environment, Platform, PushDevice

FIELDS = ("user_id", "platform", "registration_id", "alias", "ios_environment", "app")
# The documented id form of a user: what a shop's primary key looks like as text (42, a UUID, a
# slug), so that ALIAS_PREFIX + user id is a Xiaomi alias too. Never a number: 1.5 or 1e30 would
# be stored as the text of a float.
USER_ID = r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}"
# A Xiaomi target (regid or alias) travels comma-joined: printable ASCII without space or comma,
# so no control, NUL, bidi control or white space either. Left out or empty: none (an alias
# device; the derived alias).
TARGET = r"[\x21-\x2b\x2d-\x7e]{1,%d}"
REGISTRATION_ID = TARGET % PushDevice._meta.get_field("registration_id").max_length
ALIAS = TARGET % PushDevice._meta.get_field("alias").max_length


class PatternField(serializers.CharField):
    """A JSON string (never a number or a boolean) matching ``pattern`` whole."""

    default_error_messages = {"invalid": "Must be a JSON string.", "pattern": "{what}"}

    def __init__(self, pattern: str, what: str, **kwargs: Any) -> None:
        self.pattern, self.what = pattern, what
        self.compiled = re.compile(pattern)
        kwargs.setdefault("allow_blank", False)  # DRF returns "" without to_internal_value
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not self.compiled.fullmatch(data):
            self.fail("pattern", what=self.what)
        return data


def user_id_field(**kwargs: Any) -> PatternField:
    """The documented id form of a user; 400 for anything else (a float, a negative number)."""
    return PatternField(
        USER_ID,
        "must be 1 to 64 letters, digits or _ . : @ -, starting with a letter or digit, as a "
        'string ("42", not 42)',
        **kwargs,
    )


def target_field(pattern: str, limit: int, **kwargs: Any) -> PatternField:
    what = f"must be 1 to {limit} printable ASCII characters without spaces or commas"
    return PatternField(pattern, what, **kwargs)


class PatternFieldSchema(OpenApiSerializerFieldExtension):
    """The OpenAPI document shows a :class:`PatternField` as its pattern, anchored."""

    target_class = PatternField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{self.target.pattern}$"}


class AppField(serializers.ChoiceField):
    """One of the configured apps, read when the serializer is made (the document's enum too)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "One of the configured apps; the default app when left out.")
        super().__init__(choices=configured_apps(), **kwargs)


def configured_apps() -> list[str]:
    """The configured apps; with broken settings, those parsed anyway (the URLs still import,
    so ``manage.py check`` can name what is broken)."""
    try:
        return sorted(conf.get().apps)
    except conf.SettingsError:
        return sorted(conf.inspect(spec=conf.host_spec())[0].apps)


class RegistrationSerializer(serializers.Serializer):
    """``POST /api/v1/devices``: what a phone tells about itself."""

    user_id = user_id_field()
    platform = serializers.ChoiceField(choices=Platform.values)
    registration_id = target_field(REGISTRATION_ID, 255, required=False, allow_blank=True)
    alias = target_field(
        ALIAS,
        128,
        required=False,
        allow_blank=True,
        help_text="Only the API token may choose it; for a session user it is the app's "
        "ALIAS_PREFIX + user_id, which the API fills in when left out.",
    )
    ios_environment = serializers.ChoiceField(choices=Environment.values, required=False)
    app = AppField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        problems: dict[str, str] = {}
        if isinstance(self.initial_data, dict):
            for unknown in sorted(set(self.initial_data) - set(FIELDS)):
                problems[unknown] = f"unknown field; the fields are {', '.join(FIELDS)}"
        if attrs.get("ios_environment") and attrs["platform"] == Platform.ANDROID:
            problems["ios_environment"] = "applies to iOS devices only; leave it out for Android"
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class ListQuerySerializer(serializers.Serializer):
    """``GET /api/v1/devices`` query: whose devices, optionally of one app."""

    user_id = user_id_field(required=False)
    app = AppField(required=False)


class AppQuerySerializer(serializers.Serializer):
    """``DELETE /api/v1/devices/<registration_id>`` query: the app (default app when left out)."""

    app = AppField(required=False)


class RegistrationIdSerializer(serializers.Serializer):
    """``DELETE /api/v1/devices/<registration_id>`` path: checked before it reaches a query."""

    registration_id = target_field(REGISTRATION_ID, 255)


class DeviceSerializer(serializers.ModelSerializer):
    """A registered device as the API shows it."""

    platform = serializers.ChoiceField(source="os_type", choices=Platform.values, read_only=True)
    app = serializers.CharField(source="app_name", read_only=True)
    modified_at = serializers.DateTimeField(source="modify_time", read_only=True)

    class Meta:
        model = PushDevice
        fields = (
            "id",
            "user_id",
            "app",
            "platform",
            "registration_id",
            "alias",
            "ios_environment",
            "is_active",
            "deactivated_reason",
            "created_at",
            "modified_at",
        )
        read_only_fields = fields


class ErrorSerializer(serializers.Serializer):
    """401, 403, 404, 405, 413 and 415 answers."""

    detail = serializers.CharField()
