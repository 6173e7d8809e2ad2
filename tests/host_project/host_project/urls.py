"""The shop's URLs: its own views, Django's admin (with pushworker's models), pushworker's URLs."""

from django.contrib import admin
from django.urls import path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("goods/<int:goods_id>/", views.goods_detail),
    # The device registration API mounts here once it exists (engineer H6's part), e.g.
    # path("push/", include("pushworker.api.urls")),
]
