"""URLs of the standalone service (``pushworker web``): admin, device API, OpenAPI and /healthz."""

from django.contrib import admin
from django.urls import include, path

from pushworker.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="pushworker-healthz"),
    path("", include("pushworker.api.urls")),
]
