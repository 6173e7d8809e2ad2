"""Publishes off the caller's thread: a daemon thread, a bounded number held, a deadline each,
and whatever fails or runs out of time handed back to the caller's ``failed``.

Once its outbox row is committed an event is safe, so ``delay()`` need not wait for Redis: it
hands the publish over and returns. Two things must stay bounded when Redis refuses or hangs:

* memory: at most ``limit`` publishes are waiting or running. A caller that finds no room gets
  ``None`` from :meth:`Publisher.submit` and keeps its event some other way (the outbox);
* time: a background publish is given up when Redis has not answered it within its budget, or,
  while it waits for a thread, when Redis has answered no publish for a whole budget (a burst that
  Redis takes as fast as it can is not given up, only bounded in number). One watchdog thread
  hands its key to ``failed``, and a publish that has not started is then skipped. One already
  running (stuck on a hung socket) may still end later; its message then repeats what ``failed``
  arranged, which the consumer must tolerate (pushworker's claim does).

A failed or given-up publish is handed to ``failed`` exactly once, on a publisher or the watchdog
thread, never on the caller's. The threads are daemons, so a publish stuck on a hung Redis never
holds up the process's exit; an ``atexit`` hook waits, at most ``EXIT_WAIT``, until every publish
is made or handed over, so a short-lived process (the CLI, a script) leaves nothing undone. After
a fork the child starts with no threads and nothing held (``os.register_at_fork``): the parent's
publishes stay the parent's.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger("pushworker.enqueue")

# Seconds an exiting process waits for its publishes: they take milliseconds while Redis answers,
# and the watchdog hands them over within a budget once it stops.
EXIT_WAIT = 5.0

# A job's states. Only the thread that moves a job out of WAITING or RUNNING settles it.
_WAITING, _RUNNING, _DONE, _GIVEN_UP = range(4)


class _Job:
    __slots__ = ("call", "key", "budget", "submitted", "started", "future", "state")

    def __init__(self, call: Callable[[], Any], key: Hashable | None, budget: float) -> None:
        self.call = call
        self.key = key
        self.budget = budget
        self.submitted = time.monotonic()
        self.started = 0.0
        self.future: Future = Future()
        self.state = _WAITING


class Publisher:
    """Runs publishes on ``threads`` daemon threads, at most ``limit`` waiting or running.

    ``failed(keys, error)`` receives the keys of background publishes that raised (one key, its
    exception) or were given up (all those given up at that moment, a ``TimeoutError``).
    One thread by default: publishes go out in call order, and a caller's thread contends for the
    GIL with one publisher only (with two, measured back to back, the caller waited behind both:
    a third more stalls over 2 ms). A thousand held publishes are several seconds of a web
    process's events: more means Redis is not keeping up.
    """

    def __init__(
        self,
        failed: Callable[[list[Any], BaseException], None],
        *,
        threads: int = 1,
        limit: int = 1000,
    ) -> None:
        self._failed = failed
        self.threads = threads
        self.limit = limit
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self._at_exit)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._deadline_moved = threading.Condition(self._lock)  # the watchdog waits on it
        self._settled = threading.Condition(self._lock)  # :meth:`idle` waits on it
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._held = 0  # jobs in the queue or on a thread, given up or not: what ``limit`` bounds
        self._watched: dict[int, _Job] = {}  # background jobs not yet settled, oldest first
        self._unsettled = 0  # background jobs not yet published or handed to ``failed`` in full
        self._watch_until = math.inf  # when the watchdog wakes by itself
        self._progress = 0.0  # when a publish last ended
        self._started = False

    @property
    def held(self) -> int:
        """Publishes waiting for a thread or running, given up or not."""
        return self._held

    def room(self) -> bool:
        """Whether a submit now would be taken (another thread may take the room first)."""
        return self._held < self.limit

    def submit(
        self, call: Callable[[], Any], budget: float, key: Hashable | None = None
    ) -> Future | None:
        """Run ``call`` on a publisher thread; None when ``limit`` publishes are held already.

        With a ``key`` the publish is the publisher's to follow: a failure, or Redis not answering
        within ``budget`` seconds (:meth:`_due`), goes to ``failed``. Without one the caller
        follows it through the returned Future (``result(timeout)``; ``cancel()`` skips it if it
        has not started).
        """
        job = _Job(call, key, budget)
        self._after_fork()
        with self._lock:
            if self._held >= self.limit:
                return None
            if not self._started:
                self._start()
            self._held += 1
            if key is not None:
                if job.submitted + budget < self._watch_until:  # else it wakes in time anyway
                    self._deadline_moved.notify()
                self._watched[id(job)] = job
                self._unsettled += 1
        self._jobs.put(job)
        return job.future

    def idle(self, timeout: float) -> bool:
        """Wait until every background publish is published or handed to ``failed``; False if
        ``timeout`` seconds passed first."""
        self._after_fork()
        with self._lock:
            return self._settled.wait_for(lambda: not self._unsettled, timeout)

    def _after_fork(self) -> None:
        # A server that forks without Python's fork hooks (an embedded interpreter) leaves the
        # child the parent's state: no threads, and a lock a parent thread may have held.
        if self._pid != os.getpid():
            self._reset()

    def _start(self) -> None:
        for n in range(self.threads):
            name = f"pushworker-publish-{n}"
            threading.Thread(target=self._work, args=(self._jobs,), daemon=True, name=name).start()
        threading.Thread(target=self._watch, daemon=True, name="pushworker-publish-watch").start()
        self._started = True

    def _work(self, jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            job = jobs.get()
            with self._lock:
                taken = job.state == _WAITING
                if taken:
                    job.state = _RUNNING
                    job.started = time.monotonic()
            error: BaseException | None = None
            if taken and job.future.set_running_or_notify_cancel():
                try:
                    job.future.set_result(job.call())
                except BaseException as caught:  # noqa: BLE001 - handed to the caller or failed
                    error = caught
                    job.future.set_exception(caught)
            with self._lock:
                self._held -= 1
                if taken:
                    self._progress = time.monotonic()  # Redis answered, one way or another
                ours = job.state == _RUNNING  # not given up by the watchdog meanwhile
                if ours:
                    job.state = _DONE
                    if job.key is not None:
                        del self._watched[id(job)]
                        if error is None:
                            self._settle(1)
            if ours and job.key is not None and error is not None:
                self._hand_over([job.key], error)

    def _watch(self) -> None:
        """Give up background publishes as they come due (:meth:`_due`)."""
        while True:
            with self._lock:
                now = time.monotonic()
                late = [job for job in self._watched.values() if self._due(job) <= now]
                if not late:
                    # A submit wakes it only for a deadline earlier than the one it waits for:
                    # while Redis answers, every call's deadline comes later, and none wakes it.
                    due = min(map(self._due, self._watched.values()), default=None)
                    self._watch_until = math.inf if due is None else due
                    self._deadline_moved.wait(None if due is None else due - now)
                    continue
                for job in late:
                    job.state = _GIVEN_UP
                    del self._watched[id(job)]
            running = [job.key for job in late if job.started]
            waiting = [job.key for job in late if not job.started]
            budget = f"{late[0].budget * 1000:.0f} ms"
            if running:
                self._hand_over(running, TimeoutError(f"no answer within {budget}"))
            if waiting:
                self._hand_over(waiting, TimeoutError(f"no publish answered within {budget}"))

    def _due(self, job: _Job) -> float:
        """When a publish is given up: a budget after it started (Redis does not answer it), or,
        while it waits for a thread, a budget after the last publish ended (none answers). A burst
        that Redis takes as fast as it can is never given up: it is bounded by ``limit``."""
        if job.started:
            return job.started + job.budget
        return max(self._progress, job.submitted) + job.budget

    def _hand_over(self, keys: list[Any], error: BaseException) -> None:
        try:
            self._failed(keys, error)
        except Exception:  # noqa: BLE001 - a publisher thread must live on
            problem = f"{type(error).__name__}: {error}"
            log.exception("a failed publish was not handed over", extra={"problem": problem})
        finally:
            with self._lock:
                self._settle(len(keys))

    def _settle(self, count: int) -> None:
        self._unsettled -= count
        if not self._unsettled:
            self._settled.notify_all()

    def _at_exit(self) -> None:
        self.idle(EXIT_WAIT)
