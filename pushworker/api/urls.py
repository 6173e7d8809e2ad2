"""The device API's URLs under their documented path; they live in ``pushworker.web.api.urls``."""

from pushworker.web.api.urls import urlpatterns

__all__ = ["urlpatterns"]
