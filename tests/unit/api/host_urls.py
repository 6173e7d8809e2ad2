"""A host project's urlconf, as the README tells it: the device API mounted at the root."""

from django.urls import include, path

urlpatterns = [path("", include("pushworker.web.api.urls"))]
