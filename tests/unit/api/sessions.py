"""A host's logged-in user, as the API tests that use Django sessions need one."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient


def logged_in(username: str, *, staff: bool = False, csrf: bool = False) -> APIClient:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=staff)
    client = APIClient(enforce_csrf_checks=csrf)
    client.force_login(user)
    client.user = user
    return client
