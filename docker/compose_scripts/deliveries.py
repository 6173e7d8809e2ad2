"""Run in a pushworker container by the compose test: print {goods id: delivery status} as JSON.

Argument: the goods id prefix of this run's events.
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")
django.setup()
from pushworker.store.models import Delivery  # noqa: E402

rows = Delivery.objects.filter(subject_id__startswith=sys.argv[1] + "-")
print(json.dumps(dict(rows.values_list("subject_id", "status"))))
