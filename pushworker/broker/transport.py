"""kombu's Redis transports, made to survive any bytes on a queue; and which one a broker URL gets.

Anyone who can write to Redis can push arbitrary bytes onto a queue list. Stock kombu decodes the
entry inside the worker's event loop and Celery unpacks it there too, so one malformed entry stops
the whole worker, or goes back to the queue and stops the next one (a crash loop). Here every
entry is decoded and checked (:mod:`pushworker.broker.envelope`) before kombu builds a Message
from it,
a Celery task message is checked again after decoding, before Celery's strategy runs, and anything
that still raises while it is delivered is caught. Each such entry is acknowledged, so it never
comes back, and kept as a ``DeadLetter`` row with the reason (``consumer.store``).

Several overrides below replace or wrap private kombu methods, and the copies call more of them.
They were read against the kombu versions in :data:`KOMBU_CHECKED`; a unit test fails on any
other version until they are read again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from queue import Empty
from traceback import format_exc
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kombu.transport import redis
from kombu.utils.encoding import bytes_to_str
from redis.exceptions import ConnectionError as RedisConnectionError

from pushworker.broker import consumer, envelope

log = logging.getLogger("pushworker.transport")

# First and last kombu release read for these overrides: Channel._brpop_read and _get (copied),
# _receive_one, _deliver_fanout_message, basic_consume and QoS.restore_by_tag (wrapped), and what
# the copies call (_flush_brpop_reauth, _queue_cycle, _maybe_update_queues_expire, _q_for_pri,
# Transport._deliver), Channel._connparams (guarded), and Connection.cycle (set by
# SentinelTransport). Widen it only after
# reading them again in the new release.
KOMBU_CHECKED = ("5.7.0", "5.7.0")


class _Entry:
    """What ``consumer.store`` reads from a message, for an entry that never became one."""

    def __init__(self, message: Any) -> None:
        headers = message.get("headers") if isinstance(message, dict) else None
        self.headers = headers if isinstance(headers, dict) else {}


def _dead_letter(reason: str, raw: Any, message: Any = None) -> None:
    """Keep ``raw`` with ``reason``; ``message`` is a kombu Message, a decoded envelope or None."""
    holder = message if hasattr(message, "headers") else _Entry(message)
    # An exception's text can hold anything the entry held: a NUL that PostgreSQL refuses, a
    # newline that would forge a log line. Escaped, it is safe in both.
    consumer.store(envelope.printable(reason, 255), holder, raw)


def _log_failure() -> None:
    """The traceback of a delivery that raised, on one line: its text may come from the entry."""
    log.warning("a queue entry failed on delivery: %s", envelope.printable(format_exc(), 8000))


def _horizon() -> float:
    """How far ahead an ETA may be: the redelivery horizon (conf/retention.py), the longest a
    broker copy of an event can legitimately still come; an ETA beyond it is no message of ours."""
    from pushworker import conf
    from pushworker.conf.retention import redelivery_horizon_seconds

    try:
        settings = conf.get()
    except conf.SettingsError:  # a worker refuses to start on these; meanwhile, the defaults'
        settings = conf.load({})
    return redelivery_horizon_seconds(settings)


class _QoS(redis.QoS):
    def restore_by_tag(self, tag: Any, client: Any = None, leftmost: bool = False) -> None:
        """kombu's, except that an unacked entry it cannot read is dead-lettered, not raised.

        Only messages that passed the checks are put in the unacked hash, but whoever can write
        to Redis can write there too, and kombu's periodic restore would raise in the event loop.
        """
        try:
            super().restore_by_tag(tag, client, leftmost)
        except self.channel.connection_errors:
            raise
        except Exception as error:  # noqa: BLE001 - one entry must not stop the worker
            with self.channel.conn_or_acquire(client) as conn:
                raw = conn.hget(self.unacked_key, tag)
                self._remove_from_indices(tag, conn.pipeline()).execute()
            _dead_letter(f"unacked entry not restorable: {type(error).__name__}", raw)


class _Hardened(redis.Channel):
    """The hardening, shared by the plain and the Sentinel channel."""

    QoS = _QoS

    def _take(self, raw: Any) -> dict[str, Any] | None:
        """The checked envelope of a popped entry, or None once it is dead-lettered."""
        try:
            return envelope.decode(raw)
        except envelope.GarbageError as error:
            _dead_letter(str(error), raw, error.message)
            return None

    # Private: when Redis goes away the consumer releases the connection, then closes the channel,
    # which restores unacknowledged messages through a client built from connection parameters
    # that are gone: kombu raises AttributeError there and the worker stops ("Unrecoverable
    # error"). A connection error lets the consumer reconnect instead; the messages stay in the
    # unacked hash until the visibility timeout restores them.
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was released")
        return super()._connparams(asynchronous)

    def _deliver_checked(self, message: dict[str, Any], raw: Any, queue: str) -> None:
        """Deliver; a checked envelope kombu still cannot turn into a Message is dead-lettered."""
        try:
            self.connection._deliver(message, queue)
        except self.connection_errors:
            raise
        except Exception as error:  # noqa: BLE001 - one entry must not stop the worker
            _log_failure()
            _dead_letter(f"failed on delivery: {type(error).__name__}: {error}", raw, message)
            raise Empty() from None

    # Private: a copy of kombu 5.7.0's Channel._brpop_read with ``loads`` replaced by ``_take``.
    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                # if there's a ConnectionError, disconnect so the next iteration reconnects.
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            message = self._take(item)
            if message is None:  # popped and kept as a dead letter: nothing to deliver
                raise Empty()
            self._deliver_checked(message, item, dest)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    # Private: kombu 5.7.0's Channel._get with ``loads`` replaced by ``_take``.
    def _get(self, queue: str) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    message = self._take(item)
                    if message is None:
                        raise Empty()
                    return message
            self._maybe_update_queues_expire(client, queue)
            raise Empty()

    # Private: kombu catches TypeError and ValueError from decoding a pub/sub message, not
    # RecursionError. Broadcasts are not queue entries; a bad one is logged and skipped.
    def _receive_one(self, c: Any) -> Any:
        try:
            return super()._receive_one(c)
        except RecursionError:
            log.warning("skipped a broadcast nested too deeply to decode")
            raise Empty() from None

    def _deliver_fanout_message(self, message: Any, exchange: str) -> bool:
        problem = envelope.envelope_problem(message)
        if problem:
            text = json.dumps(message, default=repr)
            _dead_letter(f"malformed envelope: {problem}", text, message)
            return False
        return super()._deliver_fanout_message(message, exchange)

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Callable, consumer_tag: str, **kwargs: Any
    ) -> Any:
        return super().basic_consume(
            queue, no_ack, self._guard(callback, no_ack), consumer_tag, **kwargs
        )

    def _guard(self, callback: Callable[[Any], Any], no_ack: bool) -> Callable[[Any], Any]:
        """``callback`` (Celery's consumer) behind a task check and a last line of defence."""
        passes = tuple(self.connection.connection_errors) + tuple(self.connection.channel_errors)

        def guarded(message: Any) -> Any:
            problem = envelope.task_problem(message.headers, message.body, horizon=_horizon())
            if problem is None:
                try:
                    return callback(message)
                except passes:
                    raise  # the broker connection is gone: Celery reconnects and redelivers
                except Exception as error:  # noqa: BLE001 - one entry must not stop the worker
                    problem = f"failed on delivery: {type(error).__name__}: {error}"
                    _log_failure()
            else:
                problem = f"invalid task message: {problem}"
            _dead_letter(problem, message.body, message)
            if not no_ack and not message.acknowledged:
                message.ack()
            return None

        return guarded


class Channel(_Hardened, redis.Channel):
    pass


class SentinelChannel(_Hardened, redis.SentinelChannel):
    pass


class Transport(redis.Transport):
    """For redis:// and rediss:// URLs."""

    Channel = Channel


class SocketTransport(Transport):
    """For redis+socket:// URLs: kombu keeps the ``socket://`` URL whole; the channel reads it."""

    can_parse_url = True


class SentinelTransport(redis.SentinelTransport):
    """For sentinel:// URLs; ``master_name`` comes from the broker transport options.

    kombu reads the ``;``-separated sentinel URLs as failover alternates too: after a failed
    connect it switches the connection to the next one, and a switch takes the transport from
    the URL's scheme, so a worker reconnecting during a master failover would come back on
    kombu's stock transport, without the hardening. The Sentinel client already asks every
    sentinel in turn for the current master, so the switch buys nothing: it is turned off for
    the connections of this transport (``Connection.cycle``, private, read in kombu 5.7.0; the
    alternates stay, as the channel reads the sentinels from them).
    """

    Channel = SentinelChannel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        client.cycle = None


SCHEMES = ("redis", "rediss", "redis+socket", "sentinel")


class UnsupportedBrokerError(ValueError):
    """A broker URL whose scheme has no hardened transport; names the scheme, never the URL."""


def broker_for(url: str) -> tuple[str, str]:
    """``(broker_url, broker_transport)`` for Celery: the hardened transport for every scheme.

    kombu lets a ``redis+socket://`` prefix override the configured transport, so that URL is
    rewritten to the ``socket://`` form the socket transport reads. A ``rediss://`` URL that does
    not say how to check the server certificate checks it (kombu's own default is not to).
    """
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "redis+socket":
        return url[len("redis+") :], f"{__name__}:SocketTransport"
    if scheme == "redis":
        return url, f"{__name__}:Transport"
    if scheme == "rediss":
        query = dict(parse_qsl(urlsplit(url).query))
        if "ssl_cert_reqs" not in query:
            url += ("&" if "?" in url else "?") + "ssl_cert_reqs=required"
        return url, f"{__name__}:Transport"
    if scheme == "sentinel":
        return url, f"{__name__}:SentinelTransport"
    raise UnsupportedBrokerError(
        f"PUSHWORKER_BROKER_URL: the URL scheme {scheme or '(none)'!r} is not supported; "
        f"use one of {', '.join(s + '://' for s in SCHEMES)}"
    )
