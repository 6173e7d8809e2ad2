"""The deciding middle: plan, police, route, send and judge events (no Celery here)."""
