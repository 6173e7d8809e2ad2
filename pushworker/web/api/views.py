"""The device API's views: translate HTTP to the device registry (store/devices.py) and back.

Authentication, parsing and rendering are fixed here per view, so a host project's own
``REST_FRAMEWORK`` defaults cannot change how this API answers.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import authentication, exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pushworker import conf
from pushworker.store import devices
from pushworker.store.models import PushDevice
from pushworker.web.api.auth import Authenticated, BearerTokenAuthentication, require_acting_for
from pushworker.web.api.serializers import (
    AppQuerySerializer,
    DeviceSerializer,
    ErrorSerializer,
    ListQuerySerializer,
    RegistrationSerializer,
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
REFUSALS = {
    401: OpenApiResponse(
        ErrorSerializer,
        description="No credentials, a wrong token, or no token configured on the server.",
    ),
    403: OpenApiResponse(ErrorSerializer, description="Another user's devices."),
}


def documented(**description: Any) -> Any:
    """``extend_schema`` on drf-spectacular's AutoSchema, whatever a host's DEFAULT_SCHEMA_CLASS."""

    def decorate(method: Any) -> Any:
        method.schema = AutoSchema
        return extend_schema(**description)(method)

    return decorate


class _DeviceAPIView(APIView):
    authentication_classes = [BearerTokenAuthentication, authentication.SessionAuthentication]
    permission_classes = [Authenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    schema = AutoSchema()


class DeviceCollection(_DeviceAPIView):
    @documented(
        operation_id="devices_list",
        parameters=[ListQuerySerializer],
        responses={200: DeviceSerializer(many=True), 400: BAD_REQUEST, **REFUSALS},
        description="A user's devices, newest change first. `user_id` is required with the API "
        "token; a logged-in user without it gets their own.",
    )
    def get(self, request: Request) -> Response:
        query = ListQuerySerializer(data=request.query_params)
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
        },
        description="Register a phone (an upsert). The same registration id again updates its "
        "device, also when another user registers it: the device moves to that user and is "
        "active again. Without a registration id the device is an alias device, one per app, "
        "user, platform and iOS environment.",
    )
    def post(self, request: Request) -> Response:
        body = RegistrationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = body.validated_data
        require_acting_for(request, data["user_id"])
        device, created = devices.register(
            devices.Registration(
                user_id=data["user_id"],
                platform=data["platform"],
                app_name=data.get("app") or conf.get().default_app,
                registration_id=data.get("registration_id", ""),
                alias=data.get("alias", ""),
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
        parameters=[AppQuerySerializer],
        responses={
            204: OpenApiResponse(description="Unregistered."),
            400: BAD_REQUEST,
            404: OpenApiResponse(ErrorSerializer, description="No such registration id."),
            **REFUSALS,
        },
    )
    def delete(self, request: Request, registration_id: str) -> Response:
        query = AppQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        app_name = query.validated_data.get("app") or conf.get().default_app
        found = PushDevice.objects.filter(app_name=app_name, registration_id=registration_id)
        device = found.first()
        if device is None:
            raise exceptions.NotFound(f"no device with this registration id in app {app_name!r}")
        require_acting_for(request, device.user_id)
        device.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


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
    }
