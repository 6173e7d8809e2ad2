"""Celery and kombu on Redis: the app's wiring, the hardened transport, the beat lock."""
