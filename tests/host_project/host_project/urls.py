"""The shop's URLs: its own views, Django's admin (with pushworker's models), pushworker's API."""

from django.contrib import admin
from django.urls import include, path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("goods/<int:goods_id>/", views.goods_detail),
    # The device API, as the README says: /api/v1/devices behind the shop's own session login.
    path("", include("pushworker.web.api.urls")),
]
