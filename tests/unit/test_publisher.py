"""Specifies producer.publisher: publishes off the caller's thread, bounded in number and in time.

The calls here are plain functions that answer, raise or block on an event the test releases; what
the publisher does with a late or failed background publish is handed to a recording ``failed``.
"""

from __future__ import annotations

import os
import threading

import pytest

from pushworker.producer.publisher import Publisher

SHORT = 0.05  # s: a deadline the tests let pass on purpose
LONG = 30.0  # s: a deadline no test reaches


class Failed:
    """The ``failed`` callback: records every hand-over."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, str]] = []

    def __call__(self, keys: list, error: BaseException) -> None:
        self.calls.append((keys, f"{type(error).__name__}: {error}"))


@pytest.fixture
def gate():
    """An event that blocked calls wait on (a hung Redis); released after the test."""
    released = threading.Event()
    yield released
    released.set()


@pytest.fixture
def failed() -> Failed:
    return Failed()


def test_a_call_runs_on_a_publisher_thread_and_idle_waits_for_it(failed) -> None:
    publisher = Publisher(failed, threads=1)
    ran_on: list[str] = []
    assert publisher.submit(lambda: ran_on.append(threading.current_thread().name), LONG, key=1)
    assert publisher.idle(5)
    assert ran_on == ["pushworker-publish-0"] and failed.calls == []


def test_a_background_call_that_raises_is_handed_to_failed_once_with_its_key(failed) -> None:
    publisher = Publisher(failed, threads=1)

    def refuse() -> None:
        raise ConnectionError("Connection refused")

    publisher.submit(refuse, LONG, key="event-1")
    assert publisher.idle(5)
    assert failed.calls == [(["event-1"], "ConnectionError: Connection refused")]


def test_no_more_than_limit_calls_are_held_and_a_full_publisher_refuses_at_once(
    failed, gate
) -> None:
    publisher = Publisher(failed, threads=1, limit=2)
    assert publisher.submit(gate.wait, LONG, key=1) is not None  # running, hung
    assert publisher.submit(gate.wait, LONG, key=2) is not None  # waiting for the thread
    assert not publisher.room()
    assert publisher.submit(gate.wait, LONG, key=3) is None
    gate.set()
    assert publisher.idle(5) and publisher.room()
    assert failed.calls == []


def test_a_hung_call_is_handed_to_failed_at_its_deadline_and_not_again_when_it_ends(
    failed, gate
) -> None:
    publisher = Publisher(failed, threads=1)
    publisher.submit(gate.wait, SHORT, key="hung")
    assert publisher.idle(5)  # settled by the watchdog while the call still hangs
    assert failed.calls == [(["hung"], "TimeoutError: no answer within 50 ms")]
    gate.set()
    done = threading.Event()
    publisher.submit(done.set, LONG, key="next")  # runs after the hung call returned
    assert publisher.idle(5) and done.is_set()
    assert len(failed.calls) == 1


def test_a_call_still_waiting_for_a_thread_at_its_deadline_is_never_run(failed, gate) -> None:
    publisher = Publisher(failed, threads=1)
    ran: list[str] = []
    publisher.submit(gate.wait, SHORT, key="hung")
    publisher.submit(lambda: ran.append("late"), SHORT, key="queued")
    assert publisher.idle(5)
    assert sorted(key for keys, _ in failed.calls for key in keys) == ["hung", "queued"]
    gate.set()
    publisher.submit(lambda: ran.append("next"), LONG, key="next")
    assert publisher.idle(5)
    assert ran == ["next"]


def test_a_burst_that_redis_answers_is_never_given_up_however_long_it_waits(failed) -> None:
    publisher = Publisher(failed, threads=1)
    done = threading.Semaphore(0)

    def slow() -> None:  # Redis answers each in a fifth of the budget; all eight take more
        threading.Event().wait(0.1)
        done.release()

    for n in range(8):
        publisher.submit(slow, 0.5, key=n)
    assert publisher.idle(10)
    assert failed.calls == [] and all(done.acquire(blocking=False) for _ in range(8))


def test_calls_waiting_behind_a_hung_one_are_given_up_once_none_answers_for_a_budget(
    failed, gate
) -> None:
    publisher = Publisher(failed, threads=1)
    publisher.submit(gate.wait, SHORT, key="hung")
    publisher.submit(lambda: None, SHORT, key="waiting")
    assert publisher.idle(5)
    assert sorted(failed.calls) == [
        (["hung"], "TimeoutError: no answer within 50 ms"),
        (["waiting"], "TimeoutError: no publish answered within 50 ms"),
    ]


def test_a_call_without_a_key_is_the_callers_to_follow_and_may_be_cancelled(failed, gate) -> None:
    publisher = Publisher(failed, threads=1)
    blocking = publisher.submit(gate.wait, SHORT)
    skipped = publisher.submit(lambda: pytest.fail("ran"), SHORT)
    assert skipped.cancel()  # the caller stopped waiting before a thread took it
    gate.set()
    assert blocking.result(timeout=5) is True
    answered = publisher.submit(lambda: 42, SHORT)
    assert answered.result(timeout=5) == 42
    assert failed.calls == []  # never the publisher's to hand over, even past the deadline


def test_a_failing_hand_over_is_logged_and_the_threads_live_on(caplog) -> None:
    def broken(keys: list, error: BaseException) -> None:
        raise RuntimeError("database down")

    publisher = Publisher(broken, threads=1)

    def refuse() -> None:
        raise ConnectionError("refused")

    publisher.submit(refuse, LONG, key=1)
    assert publisher.idle(5)
    assert "a failed publish was not handed over" in caplog.text
    done = threading.Event()
    publisher.submit(done.set, LONG, key=2)
    assert publisher.idle(5) and done.is_set()


def test_a_forked_child_publishes_on_threads_of_its_own(failed) -> None:
    publisher = Publisher(failed, threads=1)
    assert publisher.submit(lambda: None, LONG, key="parent") and publisher.idle(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here
        try:
            publisher.submit(lambda: os.write(write, b"child"), LONG, key="child")
            os._exit(0 if publisher.idle(5) else 1)
        finally:
            os._exit(2)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and os.read(read, 16) == b"child"
    os.close(read)


def test_a_child_forked_without_pythons_fork_hooks_starts_afresh(failed) -> None:
    publisher = Publisher(failed, threads=1)
    assert publisher.submit(lambda: None, LONG, key="parent") and publisher.idle(5)
    publisher._lock.acquire()  # as a parent thread holding it at the fork would leave it
    publisher._pid = -1  # as a process the hooks did not run in sees it
    done = threading.Event()
    assert publisher.submit(done.set, LONG, key="child") is not None
    assert publisher.idle(5) and done.is_set()
