"""The shop's URLs: its views, Django's admin (with pushworker's models), pushworker's API and
metrics."""

from django.contrib import admin
from django.urls import include, path
from shop import views

from pushworker.web import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("goods/<int:goods_id>/", views.goods_detail),
    # pushworker's counts of this shop's delay() calls, summed over its gunicorn workers.
    path("metrics", metrics.view),
    # The device API, as the README says: /api/v1/devices behind the shop's own session login.
    path("", include("pushworker.web.api.urls")),
]
