"""The shop's own Celery task, which must keep the shop's queue, time limit and stored results."""

from celery import shared_task


@shared_task(bind=True, name="shop.recount")
def recount(self, a: int, b: int) -> dict:
    """Add two numbers and report the Celery settings this run got."""
    return {
        "sum": a + b,
        "queue": (self.request.delivery_info or {}).get("routing_key"),
        "time_limit": self.time_limit,
        "acks_late": self.acks_late,
        "ignore_result": self.ignore_result,
    }
