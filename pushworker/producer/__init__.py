"""The web side of every ``send_<kind>``: ``delay()``, the outbox row, the backlog switch."""
