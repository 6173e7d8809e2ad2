"""The device API's views: translate HTTP to the device registry (store/devices.py) and back.

Authentication, parsing and rendering are fixed here per view, so a host project's own
``REST_FRAMEWORK`` defaults cannot change how this API answers. Every input (body, query, path) is
checked by a serializer before any query, and the OpenAPI document states the same rules.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import authentication, exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pushworker import conf
from pushworker.store import devices
from pushworker.store.models import PushDevice
from pushworker.web.api.auth import (
    Authenticated,
    BearerTokenAuthentication,
    ServiceCaller,
    require_acting_for,
)
from pushworker.web.api.errors import MAX_BODY_BYTES, BoundedJSONParser
from pushworker.web.api.serializers import (
    AppQuerySerializer,
    DeviceSerializer,
    ErrorSerializer,
    ListQuerySerializer,
    RegistrationIdSerializer,
    RegistrationSerializer,
    user_id_field,
)

BAD_REQUEST = OpenApiResponse(
    response={
        "type": "object",
        "description": "Each bad field with what is wrong with it ('detail' for a body that is "
        "not JSON).",
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
    },
    description="A field is missing or wrong; the body names each one.",
)


class ListQueryDocument(ListQuerySerializer):
    """The list query as the token caller must send it: ``user_id`` required (a logged-in user
    may leave it out for their own devices; the description says so)."""

    user_id = user_id_field()


REFUSALS = {
    401: OpenApiResponse(
        ErrorSerializer,
        description="No credentials, a wrong token, or no token configured on the server.",
    ),
    403: OpenApiResponse(ErrorSerializer, description="Another user's devices."),
}
BODY_REFUSALS = {
    413: OpenApiResponse(ErrorSerializer, description=f"A body over {MAX_BODY_BYTES} bytes."),
    415: OpenApiResponse(ErrorSerializer, description="A body that is not application/json."),
}
REGISTRATION_ID = OpenApiParameter(
    "registration_id",
    {
        "type": "string",
        "pattern": f"^{RegistrationIdSerializer().fields['registration_id'].pattern}$",
    },
    OpenApiParameter.PATH,
    required=True,
    description="The device's Xiaomi registration id, percent-encoded.",
)


def documented(**description: Any) -> Any:
    """``extend_schema`` on drf-spectacular's AutoSchema, whatever a host's DEFAULT_SCHEMA_CLASS."""

    def decorate(method: Any) -> Any:
        method.schema = AutoSchema
        return extend_schema(**description)(method)

    return decorate


class _DeviceAPIView(APIView):
    authentication_classes = [BearerTokenAuthentication, authentication.SessionAuthentication]
    permission_classes = [Authenticated]
    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    schema = AutoSchema()


class DeviceCollection(_DeviceAPIView):
    @documented(
        operation_id="devices_list",
        parameters=[ListQueryDocument],
        responses={200: DeviceSerializer(many=True), 400: BAD_REQUEST, **REFUSALS},
        description="A user's devices, newest change first. `user_id` is required with the API "
        "token; a logged-in user without it gets their own.",
    )
    def get(self, request: Request) -> Response:
        query = ListQuerySerializer(data=_query(request))
        query.is_valid(raise_exception=True)
        user_id = query.validated_data.get("user_id") or _own_id(request)
        require_acting_for(request, user_id)
        found = devices.of_user(user_id, query.validated_data.get("app"))
        return Response(DeviceSerializer(found, many=True).data)

    @documented(
        operation_id="devices_register",
        request=RegistrationSerializer,
        responses={
            200: OpenApiResponse(DeviceSerializer, description="Known device, updated."),
            201: OpenApiResponse(DeviceSerializer, description="New device."),
            400: BAD_REQUEST,
            **REFUSALS,
            **BODY_REFUSALS,
        },
        description="Register a phone (an upsert). The same registration id again updates its "
        "device, also when another user registers it: the device moves to that user and is "
        "active again. Without a registration id the device is an alias device, one per app, "
        "user, platform and iOS environment; its alias is the app's ALIAS_PREFIX + user_id, "
        "filled in by the API. Only the API token (a trusted back end) may choose another alias.",
    )
    def post(self, request: Request) -> Response:
        body = RegistrationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = body.validated_data
        require_acting_for(request, data["user_id"])
        app = conf.get().app(data.get("app") or None)
        device, created = devices.register(
            devices.Registration(
                user_id=data["user_id"],
                platform=data["platform"],
                app_name=app.name,
                registration_id=data.get("registration_id", ""),
                alias=_alias(request, data, app.alias_prefix + data["user_id"]),
                ios_environment=data.get("ios_environment") or "production",
            )
        )
        return Response(
            DeviceSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DeviceItem(_DeviceAPIView):
    @documented(
        operation_id="devices_unregister",
        parameters=[REGISTRATION_ID, AppQuerySerializer],
        responses={
            204: OpenApiResponse(description="Unregistered."),
            400: BAD_REQUEST,
            404: OpenApiResponse(ErrorSerializer, description="No such registration id."),
            **REFUSALS,
        },
    )
    def delete(self, request: Request, registration_id: str) -> Response:
        RegistrationIdSerializer(data={"registration_id": registration_id}).is_valid(
            raise_exception=True
        )
        query = AppQuerySerializer(data=_query(request))
        query.is_valid(raise_exception=True)
        app_name = query.validated_data.get("app") or conf.get().default_app
        found = PushDevice.objects.filter(app_name=app_name, registration_id=registration_id)
        device = found.first()
        if device is None:
            raise exceptions.NotFound(f"no device with this registration id in app {app_name!r}")
        require_acting_for(request, device.user_id)
        device.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def _alias(request: Request, data: dict[str, Any], derived: str) -> str:
    """The alias to store: the derived one for an alias device; another only from the token.

    An alias is predictable (ALIAS_PREFIX + user id), so a session user who could choose one
    could register another user's alias and receive that user's pushes.
    """
    given = data.get("alias", "")
    if given and given != derived and not isinstance(request.user, ServiceCaller):
        raise exceptions.ValidationError(
            {
                "alias": [
                    f"must be {derived} (the app's ALIAS_PREFIX + user_id) or left out: "
                    "only the API token may choose another alias"
                ]
            }
        )
    return given or ("" if data.get("registration_id") else derived)


def _query(request: Request) -> dict[str, str]:
    # A plain dict: DRF reads a QueryDict as an HTML form, where an empty optional field counts
    # as absent, so "?app=" would pass for the default app instead of being refused.
    return request.query_params.dict()


def _own_id(request: Request) -> str:
    if request.user.pk is None:  # the token caller is nobody: it must say whose devices
        raise exceptions.ValidationError({"user_id": ["this query parameter is required"]})
    return str(request.user.pk)


class OpenAPIDocument(SpectacularJSONAPIView):
    """``GET /api/v1/openapi.json``: the device and preferences API only, whatever else the host
    serves."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    custom_settings = {
        "TITLE": "pushworker device API",
        "DESCRIPTION": "Phones register with pushworker so goods-visit pushes reach them; "
        "recipients choose which notifications they get, when, and how.",
        "VERSION": "1",
        "OAS_VERSION": "3.1.0",
        "COMPONENT_SPLIT_REQUEST": True,
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "pushworker.web.api.views.closed_request_bodies",
        ],
    }


def closed_request_bodies(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Request bodies allow no other properties: the server answers 400 to an unknown field. A
    registration's ``ios_environment`` is for iOS only (JSON Schema's if/then says it)."""
    schemas = result.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    if "RegistrationRequest" in schemas:
        schemas["RegistrationRequest"] |= {
            "if": {"properties": {"platform": {"const": "android"}}, "required": ["platform"]},
            "then": {"not": {"required": ["ios_environment"]}},
        }
    return result
