"""Run in a pushworker container by the compose test: enqueue goods-visit events as a web view does.

Arguments: owner id, goods id prefix, number of events, pause between them (s). Prints each event id
as soon as `delay()` returned, so the test can restart the worker mid-stream.
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")
django.setup()
import pushworker.celery  # noqa: E402,F401 - the standalone app publishes the tasks
from pushworker.tasks import send_goods_visit  # noqa: E402

owner, prefix, count, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
for number in range(count):
    result = send_goods_visit.delay(
        owner_id=owner,
        visitor_id=str(1000 + number),
        goods_id=f"{prefix}-{number}",
        goods_name=f"青花瓷碗 {number}",
    )
    print(result.id, flush=True)
    time.sleep(pause)
