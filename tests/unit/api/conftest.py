"""Fixtures of the device API tests: a configured app, an API token, DRF's test client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.unit.environment import CREDENTIALS

TOKEN = "api-token-5b1e9f0c3d7a"


@pytest.fixture(autouse=True)
def _configured(configure, settings):
    configure(**CREDENTIALS)
    settings.PUSHWORKER_API_TOKEN = TOKEN
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def backend() -> APIClient:
    """The shop's backend: calls with the API token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return client
