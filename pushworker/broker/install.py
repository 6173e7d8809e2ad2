"""Wires pushworker into a Celery app, touching only what is pushworker's: ``install(app)``.

A host project calls ``pushworker.broker.install.install(app)`` on its own Celery app (after
``config_from_object``). That adds pushworker's queues, routes for ``pushworker.*`` tasks only, its
beat entries, and the Redis transport and consumer that dead-letter garbage. The host's broker URL,
serializers, time limits and result settings stay as they are: what pushworker's guarantees need
(late acks, requeue when a worker dies, soft and hard time limits below the visibility timeout,
JSON, no results) is set on pushworker's own tasks, through ``task_annotations``. The standalone
service (``pushworker/celery.py``) is wired by the same call.

``install()`` never raises on the host's configuration: ``manage.py`` commands import the Celery
app, and a traceback there would hide every other problem. What it cannot reconcile (a different
visibility timeout, an unsupported broker) is kept on the app, reported by the system check
``pushworker.E004`` (pushworker/broker/checks.py), and a worker that consumes a pushworker queue
refuses to start on it. Publishing a pushworker task through an app ``install()`` never touched
raises :class:`NotInstalledError`: such an app publishes to Celery's default broker.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from celery import Celery, signals
from kombu import Queue

from pushworker import conf
from pushworker.broker import connection
from pushworker.broker.queues import CONSUMED, OWN_OPTIONS, ROUTES
from pushworker.conf import ratelimit

log = logging.getLogger("pushworker.integration")

# The purge's own limits: pushworker.tasks.PURGE_SECONDS, after which it stops itself, + a minute.
PURGE_TIME_LIMIT = 360
CONSUMER = "pushworker.broker.consumer:DeadLetteringConsumer"
STOCK_CONSUMER = "celery.worker.consumer:Consumer"


def broker_for(broker_url: str | None) -> tuple[str | None, str | None]:
    """``(broker_url, broker_transport)`` pushworker needs; the one place that decides it.

    Every Redis flavour (redis, rediss, redis+socket, sentinel) gets pushworker's hardened
    transport, which dead-letters queue entries that are not runnable messages instead of stopping
    the worker; the URL may be rewritten for it (``pushworker.broker.transport.broker_for``). ``memory://``
    (a host's in-process test broker) is left as is. Any other broker is refused, naming its
    scheme only: pushworker's guarantees are built on Redis.
    """
    from pushworker.broker import transport  # the transport imports Celery's worker machinery

    scheme = (broker_url or "").partition("://")[0].lower()
    if scheme == "memory":
        return broker_url, None
    try:
        return transport.broker_for(broker_url or "")
    except transport.UnsupportedBrokerError:
        raise conf.SettingsError(
            [
                f"broker URL scheme {scheme or '(none)'!r} is not supported: pushworker needs a "
                f"Redis broker ({', '.join(s + '://' for s in transport.SCHEMES)})"
            ]
        ) from None


def task_options(settings: conf.Settings) -> dict[str, Any]:
    """What every pushworker task needs whatever the host's global Celery settings say.

    At least once: ack after the task body, requeue when a pool child dies; the Delivery row's claim
    turns redeliveries into no-ops. A run that outlives its claim lease (the longest legitimate run)
    is stuck: stop it there, well before the visibility timeout would let a second copy run beside
    it. The soft limit is the hard one: a host's global ``task_soft_time_limit`` never applies
    (one above pushworker's hard limit made Celery refuse every publish), and a stuck run has
    nothing to tidy that the claim's lease does not recover. Outcomes live in the Delivery table,
    so no result is stored; JSON only, as a broker that accepted pickle would let anyone who can
    write to Redis run code.
    """
    limit = math.ceil(settings.claim_lease_seconds)
    return {
        "acks_late": True,
        "reject_on_worker_lost": True,
        "time_limit": limit,
        "soft_time_limit": limit,
        "ignore_result": True,
        "serializer": "json",
    }


def annotations(settings: conf.Settings) -> dict[str, dict[str, Any]]:
    """The per-task options ``install()`` gives each pushworker task (``task_annotations``)."""
    options = task_options(settings)
    batch = math.ceil(settings.batch_run_seconds)
    return {name: options for name in ROUTES if name not in OWN_OPTIONS} | {
        "pushworker.drain": options | {"time_limit": batch, "soft_time_limit": batch},
        # Acked on receipt, runs minutes (pushworker.tasks.purge_expired): only its limits here.
        "pushworker.purge_expired": {
            "time_limit": PURGE_TIME_LIMIT,
            "soft_time_limit": PURGE_TIME_LIMIT,
        },
    }


def beat_entries(settings: conf.Settings) -> dict[str, dict[str, Any]]:
    """The outbox relay and the stuck-delivery sweeper at the configured intervals; the purge; the
    daily summaries' scheduler every ``SUMMARY_INTERVAL``."""
    return {
        "pushworker.relay_outbox": {
            "task": "pushworker.relay_outbox",
            "schedule": settings.relay_interval_seconds,
        },
        "pushworker.sweep_stuck": {
            "task": "pushworker.sweep_stuck",
            "schedule": settings.sweep_interval_seconds,
        },
        # Retention (pushworker/store/purge.py): hourly bounded runs keep each one short.
        "pushworker.purge_expired": {"task": "pushworker.purge_expired", "schedule": 3600.0},
        "pushworker.send_daily_summaries": {
            "task": "pushworker.send_daily_summaries",
            "schedule": settings.summary_interval_seconds,
        },
    }


def transport_options(settings: conf.Settings, given: dict[str, Any]) -> dict[str, Any]:
    """The host's broker transport options plus pushworker's defaults (the host's values win).

    Redis emulates acks with a visibility timeout: an unacked message is handed out again after
    it. A drain's whole run stays below it (checked in pushworker.conf.parse), so it must be
    pushworker's value; a different one set by the host is a problem naming both (kept
    on the app by ``install()``: check ``pushworker.E004``, and workers refuse to start). The
    restore sweep runs every second instead of every 100 s, so a killed worker's message returns in
    visibility_timeout + ~1 s. Socket timeouts keep a hung Redis from blocking a process forever.
    """
    options = dict(given)
    options.setdefault("visibility_timeout", settings.visibility_timeout)
    for key, value in {
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "max_retries": 1,
        # Ask the queues in the order a worker consumes them (queues.CONSUMED): an urgent event
        # is fetched before bulk work whenever a pool slot frees, not after its round-robin turn.
        "queue_order_strategy": "priority",
    }.items():
        options.setdefault(key, value)
    # redis-py gives the connections to sentinels the socket_* options only when sentinel_kwargs
    # is None; given (for a sentinel password), it replaces them, so the timeouts go in too.
    if options.get("sentinel_kwargs") is not None:
        options["sentinel_kwargs"] = {
            "socket_connect_timeout": options["socket_connect_timeout"],
            "socket_timeout": options["socket_timeout"],
            **options["sentinel_kwargs"],
        }
    return options


def visibility_problem(settings: conf.Settings, options: dict[str, Any]) -> str | None:
    """The host's visibility timeout when it is not pushworker's (:func:`transport_options`)."""
    visibility = options.get("visibility_timeout", settings.visibility_timeout)
    if visibility == settings.visibility_timeout:
        return None
    return (
        f"the Celery setting broker_transport_options['visibility_timeout'] ({visibility} s) "
        f"differs from pushworker's VISIBILITY_TIMEOUT ({settings.visibility_timeout} s); "
        "set them to the same value"
    )


class NotInstalledError(RuntimeError):
    """A pushworker task was published through a Celery app ``install()`` never touched."""


def is_installed(app: Celery) -> bool:
    return bool(getattr(app, "_pushworker_installed", False))


def require_installed(app: Celery, task_name: str = "a pushworker task") -> None:
    """Raise :class:`NotInstalledError` unless ``install()`` wired ``app``.

    Such an app is Celery's default one, or a host's app without the install line: it would
    publish to its own broker (Celery's default is ``amqp://guest@localhost//``), where no
    pushworker worker ever looks, while the event's row says it was published.
    """
    if is_installed(app):
        return
    raise NotInstalledError(
        f"{task_name} was published through the Celery app {app.main or 'default'!r}, which "
        "pushworker.broker.install.install() never touched: it would go to that app's broker, "
        "not to pushworker's queues. Standalone service: add 'import pushworker.celery' before "
        "publishing (Django with pushworker.settings loads it itself). Host project: call "
        "'pushworker.broker.install.install(app)' on your Celery app after config_from_object, "
        "and import that app at start-up (your project's __init__.py, as Celery's Django guide "
        "says)."
    )


def problems(app: Celery) -> list[str]:
    """What ``install()`` could not reconcile on ``app`` (empty when all is well)."""
    return list(getattr(app, "_pushworker_problems", ()))


def _settings_or_defaults() -> conf.Settings:
    """The configured settings; the defaults when they are broken, so importing the host's Celery
    app never crashes ``manage.py check``, which then names every problem (workers still refuse)."""
    try:
        return conf.get()
    except conf.SettingsError:
        return conf.load({})


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def install(app: Celery) -> Celery:
    """Add pushworker to ``app``: queues, routes, beat entries, transport, consumer, task options.

    Call it once the app's configuration is given (after ``config_from_object``) and before its
    tasks are used. Calling it again changes nothing.
    """
    if getattr(app, "_pushworker_installed", False):
        return app
    settings = _settings_or_defaults()
    found: list[str] = []
    config = app.conf
    queues = list(_as_tuple(config.task_queues))
    if not queues:  # Celery would declare only the default queue; keep it declared beside ours
        queues = [
            Queue(
                config.task_default_queue,
                exchange=app.amqp.default_exchange,
                routing_key=config.task_default_routing_key,
            )
        ]
    known = {queue.name for queue in queues}
    queues += [Queue(name) for name in CONSUMED if name not in known]
    config.task_queues = queues
    # First, so a host's catch-all route ("*") never takes pushworker's tasks.
    config.task_routes = (ROUTES, *_as_tuple(config.task_routes))
    # First: Celery applies the first annotation that names a task, then the first "*" one
    # (pushworker.broker.checks reports a host "*" that would override these).
    ours = annotations(settings)
    config.task_annotations = (ours, *_as_tuple(config.task_annotations))
    app._pushworker_annotations = ours  # type: ignore[attr-defined]
    config.beat_schedule = {**(config.beat_schedule or {}), **beat_entries(settings)}
    if "json" not in config.accept_content and "application/json" not in config.accept_content:
        config.accept_content = [*config.accept_content, "json"]
    try:
        broker_url, transport = broker_for(config.broker_url)
    except conf.SettingsError as error:
        # Not raised here: the host's web processes and eager tests run without a Redis broker.
        # A worker that consumes pushworker's queues refuses to start with this message.
        found += error.problems
        transport = None
    if transport:
        config.broker_url, config.broker_transport = broker_url, transport
        given = config.broker_transport_options or {}
        if problem := visibility_problem(settings, given):
            found.append(problem)
        config.broker_transport_options = transport_options(settings, given)
        if transport.endswith(":SentinelTransport") and not config.broker_transport_options.get(
            "master_name"
        ):
            found.append(
                "a sentinel:// broker URL needs the Celery setting "
                "broker_transport_options['master_name'], the name the sentinels monitor the "
                "master under (standalone service: PUSHWORKER_BROKER_MASTER_NAME)"
            )
    if config.worker_consumer == STOCK_CONSUMER:
        config.worker_consumer = CONSUMER
    else:
        log.warning(
            "worker_consumer %s kept: garbage on the queue is not dead-lettered",
            config.worker_consumer,
        )
    signals.worker_init.connect(_refuse_unusable_worker, weak=False, dispatch_uid="pushworker")
    connection.follow(app)  # the shared rate limit, the policy and the lock live in its broker
    app._pushworker_problems = found  # type: ignore[attr-defined]
    app._pushworker_installed = True  # type: ignore[attr-defined]
    return app


def _refuse_unusable_worker(sender: Any = None, **_: Any) -> None:
    """A worker that consumes a pushworker queue must be able to send: every problem named at once.

    A host's worker that consumes only the host's own queues starts whatever pushworker's state.
    """
    app = getattr(sender, "app", None)
    if app is None or not getattr(app, "_pushworker_installed", False):
        return
    if not set(CONSUMED) & set(app.amqp.queues.consume_from):
        return
    try:
        if problems(app):
            raise conf.SettingsError(problems(app))
        conf.get().require_credentials()
        ratelimit.settings()  # RATE_LIMITS parses
    except (conf.SettingsError, ValueError) as error:
        # SystemExit, because Celery logs and swallows ordinary exceptions from signal handlers.
        raise SystemExit(f"{error}") from error
