"""URLs of the standalone service (``pushworker web``): admin, device API, OpenAPI and /healthz."""

from django.contrib import admin
from django.urls import include, path

from pushworker.web import metrics as metrics_web
from pushworker.web.health import healthz

# The standalone service has no public site ("View site" would be a 404); its admin index opens
# with the delivery overview. A host project keeps its own admin site settings.
admin.site.site_url = None
admin.site.site_header = admin.site.site_title = "pushworker"
admin.site.index_title = "Overview"
admin.site.index_template = "pushworker/admin/index.html"
admin.site.enable_nav_sidebar = False  # its 280 px would push the delivery list into a scroller

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="pushworker-healthz"),
    path("metrics", metrics_web.view, name="pushworker-metrics"),  # docs/operating.md
    path("", include("pushworker.web.api.urls")),
]
