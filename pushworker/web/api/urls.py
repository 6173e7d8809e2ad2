"""The device API's URLs, full paths included: a host mounts them at its root (``path("", …)``)."""

from django.urls import path

from pushworker.web.api import preferences, receipts, views

device_patterns = [
    path("api/v1/devices", views.DeviceCollection.as_view(), name="pushworker-devices"),
    # A registration id may contain "/" (Xiaomi's are base64), hence the path converter.
    path(
        "api/v1/devices/<path:registration_id>",
        views.DeviceItem.as_view(),
        name="pushworker-device",
    ),
]
# A recipient's notification preferences (docs/api.md), with the device API's authentication.
preference_patterns = [
    path(
        "api/v1/users/<str:user_id>/preferences",
        preferences.UserPreferences.as_view(),
        name="pushworker-preferences",
    ),
]
urlpatterns = [
    *device_patterns,
    *preference_patterns,
    # Xiaomi's delivery receipts; the token is RECEIPTS_TOKEN (docs/settings.md).
    path("api/v1/receipts/<str:token>", receipts.receive, name="pushworker-receipts"),
    path(
        "api/v1/openapi.json",
        views.OpenAPIDocument.as_view(patterns=[*device_patterns, *preference_patterns]),
        name="pushworker-openapi",
    ),
]
