"""``GET/PUT /api/v1/users/<user_id>/preferences``: what a recipient chose, as the API shows it.

The body is the same both ways: ``app``, ``time_zone``, ``quiet_hours``, ``summary_hour`` and
``kinds`` (each kind a recipient may choose about, with its mode); GET adds ``effective``, the
values that apply with the app's defaults filled in, which a PUT ignores. PUT replaces every
choice (left out or ``null``: the app's default). Every rule the server enforces is in the OpenAPI
document too (:class:`PreferencesSchema`): the configured apps, IANA zone names, the form of quiet
hours, and per app the kinds it declares ``UNMUTABLE``, whose only mode is ``instant``; a PUT that
mutes one is a 400 naming ``kinds.<kind>``. Same authentication as the device API.
"""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from pushworker import conf
from pushworker.conf.policy import choosable_kinds
from pushworker.store import preferences
from pushworker.store.preferences import MODES, Choices
from pushworker.web.api.auth import may_act_for
from pushworker.web.api.serializers import USER_ID, AppQuerySerializer
from pushworker.web.api.views import (
    BAD_REQUEST,
    BODY_REFUSALS,
    REFUSALS,
    _DeviceAPIView,
    documented,
)

FIELDS = ("app", "time_zone", "quiet_hours", "summary_hour", "kinds", "effective")
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"
# "HH:MM-HH:MM", two different times (an empty window is no quiet hours: null says that).
QUIET_HOURS = rf"(?!([0-9]{{2}}:[0-9]{{2}})-\1$){_CLOCK}-{_CLOCK}"


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def _apps() -> conf.Settings:
    try:
        return conf.get()
    except conf.SettingsError:  # the document still renders; manage.py check names the problem
        return conf.inspect(spec=conf.host_spec())[0]


class PreferencesSerializer(serializers.Serializer):
    """What a recipient chose; see the module docstring (the document's schema is written by
    :class:`PreferencesSchema` from the configuration)."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["must be a JSON object"]})
        problems: dict[str, list[str]] = {}
        for unknown in sorted(set(data) - set(FIELDS)):
            problems[str(unknown)[:64]] = [f"unknown field; the fields are {', '.join(FIELDS)}"]
        settings = conf.get()
        app = data.get("app", settings.default_app)
        if not isinstance(app, str) or app not in settings.apps:
            problems["app"] = [f"must be one of the configured apps {sorted(settings.apps)}"]
            app = settings.default_app
        zone = data.get("time_zone")
        if zone is not None and (not isinstance(zone, str) or zone not in time_zones()):
            problems["time_zone"] = ["must be an IANA time zone name (Asia/Shanghai) or null"]
        quiet = data.get("quiet_hours")
        if quiet is not None and not (isinstance(quiet, str) and re.fullmatch(QUIET_HOURS, quiet)):
            problems["quiet_hours"] = ['must be "HH:MM-HH:MM" (two different times) or null']
        hour = data.get("summary_hour")
        if isinstance(hour, float) and hour.is_integer():  # 9.0 is an integer to JSON Schema
            hour = int(hour)
        if hour is not None and (
            isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23
        ):
            problems["summary_hour"] = ["must be an hour from 0 to 23 (a JSON integer) or null"]
        kinds = data.get("kinds", {})
        if not isinstance(kinds, dict):
            problems["kinds"] = ["must be a JSON object of kinds to modes"]
            kinds = {}
        known, unmutable = choosable_kinds(), settings.apps[app].policy.unmutable
        for kind, mode in kinds.items():
            name = f"kinds.{str(kind)[:64]}"
            if kind not in known:
                problems[name] = [f"is not a kind to choose about; the kinds are {known}"]
            elif mode not in MODES:
                problems[name] = [f"must be one of {', '.join(MODES)}"]
            elif kind in unmutable and mode != preferences.INSTANT:
                problems[name] = [
                    f"{kind} cannot be muted in app {app}: the app declares it UNMUTABLE, so it "
                    "is always sent instantly"
                ]
        if problems:
            raise serializers.ValidationError(problems)
        return {
            "app": app,
            "choices": Choices(
                time_zone=zone,
                quiet_hours=_window(quiet) if quiet else None,
                summary_hour=hour,
                modes=dict(kinds),
            ),
        }


def _window(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def _clock(window: tuple[time, time] | None) -> str | None:
    return f"{window[0]:%H:%M}-{window[1]:%H:%M}" if window else None


def shown(user_id: str, app: conf.AppSettings, choices: Choices) -> dict[str, Any]:
    """The body GET answers (and PUT after saving)."""
    due = preferences.summary_due(user_id, app.name)
    return {
        "app": app.name,
        "time_zone": choices.time_zone,
        "quiet_hours": _clock(choices.quiet_hours),
        "summary_hour": choices.summary_hour,
        "kinds": {kind: choices.mode(kind) for kind in choosable_kinds()},
        "effective": {
            "time_zone": choices.zone(app).key,
            "quiet_hours": _clock(choices.quiet(app)),
            "summary_hour": choices.hour(app),
            "next_summary_at": due.astimezone(choices.zone(app)).isoformat() if due else None,
            "unmutable": sorted(app.policy.unmutable),
        },
    }


def _kinds_schema(unmutable: frozenset[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Each kind's mode; a kind left out is instant (the app's default).",
        "properties": {
            kind: {"type": "string", "enum": ["instant"] if kind in unmutable else list(MODES)}
            for kind in choosable_kinds()
        },
    }


class PreferencesSchema(OpenApiSerializerExtension):
    """The body's schema, from the configuration: what the server enforces, rule by rule."""

    target_class = PreferencesSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        settings = _apps()
        apps = sorted(settings.apps)
        unmutable = {name: settings.apps[name].policy.unmutable for name in apps}
        nullable_string = {"type": ["string", "null"]}
        properties: dict[str, Any] = {
            "app": {
                "type": "string",
                "enum": apps,
                "description": "A configured app; left out: the default app.",
            },
            "time_zone": {
                **nullable_string,
                "enum": [*time_zones(), None],
                "description": "IANA name; null: the app's TIMEZONE.",
            },
            "quiet_hours": {
                **nullable_string,
                "pattern": f"^{QUIET_HOURS}$",
                "description": 'Personal quiet hours, "22:00-08:00" in time_zone (they replace the '
                "app's QUIET_HOURS; the app's QUIET_HOURS_MODE applies); null: the app's.",
            },
            "summary_hour": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": 23,
                "description": "Local hour of the daily summary; null: the app's SUMMARY_HOUR.",
            },
        }
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        shared = set(unmutable.values())
        if len(shared) <= 1:
            properties["kinds"] = _kinds_schema(next(iter(shared), frozenset()))
        else:  # apps differ in what they let be muted: the rule follows the body's app
            properties["kinds"] = _kinds_schema(frozenset())
            # "properties" alone also holds when "app" is left out: the default app's rule then.
            schema["allOf"] = [
                {
                    "if": {"properties": {"app": {"const": name}}}
                    | ({} if name == settings.default_app else {"required": ["app"]}),
                    "then": {"properties": {"kinds": _kinds_schema(unmutable[name])}},
                }
                for name in apps
            ]
        if direction == "response":
            properties["effective"] = {
                "type": "object",
                "readOnly": True,
                "description": "What applies, the app's defaults filled in; ignored on PUT.",
                "properties": {
                    "time_zone": {"type": "string"},
                    "quiet_hours": {"type": ["string", "null"]},
                    "summary_hour": {"type": "integer"},
                    "next_summary_at": {"type": ["string", "null"], "format": "date-time"},
                    "unmutable": {"type": "array", "items": {"type": "string"}},
                },
                "required": [
                    "time_zone",
                    "quiet_hours",
                    "summary_hour",
                    "next_summary_at",
                    "unmutable",
                ],
            }
            schema["required"] = [*properties]
        else:
            properties["effective"] = {"description": "What GET answers; ignored on PUT."}
        schema["additionalProperties"] = False
        return schema


USER = OpenApiParameter(
    "user_id", str, OpenApiParameter.PATH, pattern=f"^{USER_ID}$", description="The recipient."
)


REFUSED = {**REFUSALS, 403: OpenApiResponse(REFUSALS[403].response, "Another user's preferences.")}


class UserPreferences(_DeviceAPIView):
    @documented(
        operation_id="preferences_get",
        parameters=[USER, AppQuerySerializer],
        responses={200: PreferencesSerializer, 400: BAD_REQUEST, **REFUSED},
        description="What the recipient chose, and what applies with the app's defaults.",
    )
    def get(self, request: Request, user_id: str) -> Response:
        settings = conf.get()
        _check(request, user_id)
        # Checked by hand: DRF reads "?app=" as no app at all, where the document refuses it.
        app = request.query_params.get("app", settings.default_app)
        if app not in settings.apps:
            raise exceptions.ValidationError(
                {"app": [f"must be one of the configured apps {sorted(settings.apps)}"]}
            )
        return Response(shown(user_id, settings.apps[app], preferences.of(user_id, app)))

    @documented(
        operation_id="preferences_put",
        parameters=[USER],
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer, 400: BAD_REQUEST, **REFUSED, **BODY_REFUSALS},
        description="Replace the recipient's choices: each field left out or null is the app's "
        "default, each kind left out is instant. A kind the app declares UNMUTABLE can only be "
        "instant (400 naming kinds.<kind> otherwise).",
    )
    def put(self, request: Request, user_id: str) -> Response:
        settings = conf.get()
        _check(request, user_id)
        body = PreferencesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        app = settings.apps[body.validated_data["app"]]
        saved = preferences.save(
            user_id, app, body.validated_data["choices"], slot=settings.summary_slot
        )
        return Response(shown(user_id, app, saved))


def _check(request: Request, user_id: str) -> None:
    """The path's user id has the documented form (400), and the caller may act for it (403)."""
    if not re.fullmatch(USER_ID, user_id):
        what = "must be 1 to 64 letters, digits or _ . : @ -, starting with a letter or digit"
        raise exceptions.ValidationError({"user_id": [what]})
    if not may_act_for(request, user_id):
        raise exceptions.PermissionDenied(
            f"user {request.user.pk} may not manage the preferences of user {user_id}"
        )
