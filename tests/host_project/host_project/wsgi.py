"""The shop's WSGI application, as gunicorn serves it (``gunicorn host_project.wsgi``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host_project.settings")
application = get_wsgi_application()
