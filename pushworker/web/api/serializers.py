"""The device API's request and response bodies: every bad field is named in a 400 answer."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from pushworker import conf
from pushworker.store.models import Environment, Platform, PushDevice

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FIELDS = ("user_id", "platform", "registration_id", "alias", "ios_environment", "app")


def _plain_text(value: str) -> str:
    """Ids reach Xiaomi and the logs: no control characters, no lone surrogates (invalid UTF-8)."""
    if _CONTROL.search(value):
        raise serializers.ValidationError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError("must be valid Unicode text") from None
    return value


def _id_field(model_field: str, *, required: bool) -> serializers.CharField:
    return serializers.CharField(
        max_length=PushDevice._meta.get_field(model_field).max_length,
        required=required,
        allow_blank=not required,
        validators=[_plain_text],
    )


def _known_app(value: str) -> str:
    try:
        return conf.get().app(value).name
    except KeyError as error:
        raise serializers.ValidationError(str(error.args[0])) from None


class RegistrationSerializer(serializers.Serializer):
    """``POST /api/v1/devices``: what a phone tells about itself."""

    user_id = _id_field("user_id", required=True)
    platform = serializers.ChoiceField(choices=Platform.values)
    registration_id = _id_field("registration_id", required=False)
    alias = _id_field("alias", required=False)
    ios_environment = serializers.ChoiceField(choices=Environment.values, required=False)
    app = serializers.CharField(
        max_length=PushDevice._meta.get_field("app_name").max_length,
        required=False,
        validators=[_plain_text, _known_app],
        help_text="One of the configured apps; the default app when left out.",
    )

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

    user_id = _id_field("user_id", required=False)
    app = serializers.CharField(max_length=64, required=False, validators=[_plain_text, _known_app])


class AppQuerySerializer(serializers.Serializer):
    """``DELETE /api/v1/devices/<registration_id>`` query: the app (default app when left out)."""

    app = serializers.CharField(max_length=64, required=False, validators=[_plain_text, _known_app])


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
    """401, 403 and 404 answers."""

    detail = serializers.CharField()
