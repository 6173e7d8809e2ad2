"""URLs of the standalone service: the Django admin, where operators inspect and requeue."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
