"""The compose test's tools: bounded commands, the Docker engine, compose calls, the report.

Standard library only: `make compose-test` runs on the machine's python3, before any venv exists.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / "docker" / "local"
STATE = ROOT / "var" / "compose-test"


class StageError(Exception):
    """A stage failed; the message says what was expected and what was seen."""


def run(
    cmd: Sequence[str],
    *,
    timeout: float = 300,
    stdin: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within ``timeout`` seconds; raise StageError if it fails."""
    try:
        done = subprocess.run(
            list(cmd),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise StageError(f"{' '.join(cmd[:4])} … did not finish within {timeout:.0f} s") from error
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise StageError(f"{' '.join(cmd[:6])} … exited {done.returncode}:\n" + "\n".join(tail))
    return done


def wait_for(what: str, condition, timeout: float, interval: float = 1.0):
    """Poll ``condition()`` until it returns something truthy; StageError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (OSError, StageError, ValueError) as error:
            last_error = error
        time.sleep(interval)
    raise StageError(
        f"{what}: not within {timeout:.0f} s" + (f" ({last_error})" if last_error else "")
    )


def start_engine() -> subprocess.Popen[bytes] | None:
    """Install what is missing and start dockerd unless one answers; return the one started here."""
    print(run(["bash", str(LOCAL / "engine.sh")], timeout=600).stdout.strip())
    if run(["docker", "info"], check=False, timeout=30).returncode == 0:
        return None
    STATE.mkdir(parents=True, exist_ok=True)
    log = open(STATE / "dockerd.log", "ab")  # noqa: SIM115 - outlives this function with dockerd
    daemon = subprocess.Popen(
        ["dockerd"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(
        "dockerd answering `docker info`",
        lambda: run(["docker", "info"], check=False, timeout=30).returncode == 0,
        timeout=60,
    )
    return daemon


def stop_engine(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is None:
        return
    daemon.terminate()
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def password() -> str:
    """A random password holding every character that breaks an unencoded URL."""
    return secrets.token_urlsafe(12) + "#/?@%:" + secrets.token_urlsafe(4)


class Compose:
    """One compose project on the repository's compose file, configured by its own env file."""

    def __init__(self, project: str, settings: dict[str, str], unset: Sequence[str] = ()) -> None:
        self.project, self.settings = project, settings
        STATE.mkdir(parents=True, exist_ok=True)
        self.env_file = STATE / f"{project}.env"
        self.env_file.write_text("".join(f"{k}='{v}'\n" for k, v in settings.items()))
        self.env_file.chmod(0o600)
        # The shell's values win over an env file in compose: keep ours from being overridden.
        self.env = {k: v for k, v in os.environ.items() if k not in settings and k not in unset}

    def command(self, *args: str) -> list[str]:
        return [
            "docker",
            "compose",
            "-p",
            self.project,
            "--env-file",
            str(self.env_file),
            "--profile",
            "demo",
            "--profile",
            "ops",
            *args,
        ]

    def __call__(
        self, *args: str, timeout: float = 300, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(self.command(*args), timeout=timeout, stdin=stdin, check=check, env=self.env)

    def containers(self) -> list[dict]:
        out = self("ps", "-a", "--format", "json", timeout=60).stdout.strip()
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def python(self, service: str, script: str, *args: str, timeout: float = 120) -> str:
        """Run a Python script inside a running service's container; return what it printed."""
        return self(
            "exec", "-T", service, "python3", "-", *args, stdin=script, timeout=timeout
        ).stdout

    def logs_tail(self, lines: int = 40) -> str:
        return self("logs", "--no-color", "--tail", str(lines), check=False, timeout=60).stdout


def http(
    method: str,
    url: str,
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, str]:
    """One request to a loopback port; (status, body text) for any status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


class Report:
    """Each stage's wall time and outcome, printed as a table at the end whatever happened."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []
        self.started = time.monotonic()

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        notes: list[str] = []
        print(f"--- {name}", flush=True)
        began = time.monotonic()
        try:
            yield notes
        except BaseException as error:
            self.rows.append((name, time.monotonic() - began, f"FAILED: {error}".splitlines()[0]))
            raise
        self.rows.append((name, time.monotonic() - began, "; ".join(notes) or "ok"))

    def print(self) -> None:
        print("\ncompose-test report (wall time per stage)")
        for name, seconds, note in self.rows:
            print(f"  {name:<18} {seconds:7.1f} s  {note}")
        print(f"  {'total':<18} {time.monotonic() - self.started:7.1f} s", flush=True)
