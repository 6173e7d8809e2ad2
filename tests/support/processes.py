"""Real ``celery worker`` subprocesses in their own process group, so a test can kill any part."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


class Worker:
    """``celery -A pushworker worker`` (with embedded beat unless told otherwise)."""

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path,
        *,
        name: str = "w1",
        concurrency: int = 2,
        beat: bool = True,
    ) -> None:
        self.env = env
        self.workdir = workdir
        self.name = name
        self.concurrency = concurrency
        self.beat = beat
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"worker-{name}.log"
        workdir.mkdir(parents=True, exist_ok=True)
        # A worker of the same name in an earlier test wrote to the same file: this one's log
        # starts here (its restarts append to it).
        self._log_start = self._log_size()

    def start(self, timeout: float = 60.0) -> Worker:
        from pushworker.celery import worker_command

        beat_schedule = str(self.workdir / f"beat-{self.name}") if self.beat else None
        args = worker_command(self.name, concurrency=self.concurrency, beat_schedule=beat_schedule)
        start_offset = self._log_size()
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the worker
        self.process = subprocess.Popen(
            args,
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()[-4000:]}")
            if b" ready." in self.log_path.read_bytes()[start_offset:]:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready in {timeout} s:\n{self.log()[-4000:]}")

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log(self) -> str:
        """What this worker wrote, over all its starts."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[self._log_start :].decode(errors="replace")

    def pool_children(self) -> list[int]:
        """Pool processes (the embedded beat is a child too; it runs no tasks)."""
        assert self.process is not None
        return children(self.process.pid)

    def kill_group(self) -> None:
        """SIGKILL the main process, its pool and beat at once: a power cut of the worker."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 60.0) -> None:
        """SIGTERM: Celery's warm shutdown, waiting for running tasks to finish."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
        if self.process:
            # stragglers of the group (pool children) must not outlive the test
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    stop = terminate


class Service:
    """Any long-running command in its own process group, its stdout and stderr in one log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                args,
                env=env,
                cwd=log_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.log_path.name}: exited\n{self.log()[-3000:]}")
        return True

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the group and wait; SIGKILL what is left. The exit status."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode
