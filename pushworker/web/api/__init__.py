"""The device registration API: phones register, list and unregister themselves (DRF views).

Served by the standalone ``pushworker web`` behind a bearer token, and mountable in a host project
(``include("pushworker.web.api.urls")``) where the host's own session login applies.
"""
