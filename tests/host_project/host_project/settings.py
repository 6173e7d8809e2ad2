"""The shop's settings: its own database, broker and Celery choices; pushworker in one dict.

Values come from SHOP_* variables, as a real project reads its environment; the test sets them.
"""

import os

import dj_database_url

SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "host-project-for-tests-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "shop",
    "pushworker",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "host_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": dj_database_url.parse(os.environ.get("SHOP_DATABASE_URL", "sqlite://"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

# The shop's Celery choices, which pushworker must leave alone.
CELERY_BROKER_URL = os.environ.get("SHOP_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("SHOP_RESULT_BACKEND")
CELERY_TASK_DEFAULT_QUEUE = "shop"
CELERY_TASK_ROUTES = {"shop.*": {"queue": "shop"}}
CELERY_TASK_TIME_LIMIT = 300
# Above pushworker's hard limit (about 28 s): pushworker's tasks carry their own soft limit.
CELERY_TASK_SOFT_TIME_LIMIT = 70
CELERY_TASK_IGNORE_RESULT = False
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE = {"shop.nightly_report": {"task": "shop.recount", "schedule": 86400}}
# Settings that really conflict with pushworker, turned on by the tests one at a time: each must
# be a named system check error (pushworker.E004), never a traceback or a silent stop.
if os.environ.get("SHOP_ANNOTATE_EVERY_TASK"):
    CELERY_TASK_ANNOTATIONS = {"*": {"soft_time_limit": 70}}
if os.environ.get("SHOP_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ["SHOP_VISIBILITY_TIMEOUT"])
    }

PUSHWORKER = {
    "APPS": {
        "shop": {
            "ALIAS_PREFIX": "SHOP_",
            "ANONYMOUS_NICKNAME": "一位顾客",
            "ANDROID": {
                "APP_SECRET": os.environ.get("SHOP_ANDROID_SECRET"),
                "PACKAGE_NAME": "com.example.shop",
            },
            "IOS": {
                "APP_SECRET": os.environ.get("SHOP_IOS_SECRET"),
                "BUNDLE_ID": "com.example.shop.ios",
            },
        }
    },
    "PRODUCTION_URL": os.environ.get("SHOP_PUSH_PRODUCTION_URL", "https://api.xmpush.xiaomi.com"),
    "SANDBOX_URL": os.environ.get("SHOP_PUSH_SANDBOX_URL", "https://sandbox.xmpush.xiaomi.com"),
    "RELAY_INTERVAL": 0.5,
    "SWEEP_INTERVAL": 1,
    "SUMMARY_INTERVAL": 1,  # the daily summaries' scheduler: every second, for the tests
}
