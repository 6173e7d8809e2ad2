"""`make compose-test`: images built without a registry, the compose stack run, checked, torn down.

Stages, each timed in the closing report: the engine (Debian's docker.io, dockerd, the compose
plugin), the base image (debootstrap, cached once imported), the local Redis/PostgreSQL/Python
images standing in for the official ones, the project image, `up` with the demo profile, every
healthcheck, device registration through the API, events enqueued while the worker container
restarts, every event sent and received by the emulator, Flower's basic auth, no secret in any log,
and `down -v`, which runs whatever happened. Only loopback ports and compose-internal names are
used.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from base64 import b64encode
from pathlib import Path

from compose_stack import (
    LOCAL,
    ROOT,
    Compose,
    Report,
    StageError,
    free_port,
    http,
    password,
    run,
    start_engine,
    stop_engine,
    wait_for,
)

PROJECT = "pushworker-compose-test"
BASE = "pushworker-local/base:bookworm"
IMAGES = {
    "redis": "pushworker-local/redis:bookworm",
    "postgres": "pushworker-local/postgres:bookworm",
    "python": "pushworker-local/python:bookworm",
}
APP_IMAGE = "pushworker:compose-test"
OWNER, EVENTS, RESTART_AFTER = "4242", 40, 12
TIME_LIMIT = 1800  # s
SCRIPTS = Path(__file__).resolve().parent / "compose_scripts"


def settings() -> dict[str, str]:
    return {
        "REDIS_PASSWORD": password(),
        "POSTGRES_PASSWORD": password(),
        "PUSHWORKER_SECRET_KEY": password() * 3,
        "PUSHWORKER_API_TOKEN": password(),
        "FLOWER_BASIC_AUTH": "ops:" + password(),
        "MIPUSH_ANDROID_APP_SECRET": "android-" + uuid.uuid4().hex,
        "MIPUSH_IOS_APP_SECRET": "ios-" + uuid.uuid4().hex,
        "MIPUSH_PRODUCTION_URL": "http://emulator:8765",
        "MIPUSH_SANDBOX_URL": "http://emulator:8766",
        "MIPUSH_ANDROID_PACKAGE_NAME": "com.example.shop",
        "MIPUSH_IOS_BUNDLE_ID": "com.example.shop.ios",
        "REDIS_IMAGE": IMAGES["redis"],
        "POSTGRES_IMAGE": IMAGES["postgres"],
        "PYTHON_IMAGE": IMAGES["python"],
        "PUSHWORKER_IMAGE": APP_IMAGE,
        "HEALTHCHECK_INTERVAL": "3s",
        "WORKER_CONCURRENCY": "2",
        "WEB_PORT": str(free_port()),
        "FLOWER_PORT": str(free_port()),
        "EMULATOR_PORT": str(free_port()),
    }


def build_images(notes: list[str]) -> None:
    for name, tag in IMAGES.items():
        run(
            [
                "docker",
                "build",
                "-q",
                "--build-arg",
                f"BASE_IMAGE={BASE}",
                "-t",
                tag,
                str(LOCAL / name),
            ],
            timeout=600,
        )
    notes.append("redis, postgres, python from Debian packages")


def build_project(notes: list[str]) -> None:
    # The machine's extra CA certificates (a TLS-inspecting proxy's) are the optional build input.
    build_input = ROOT / "docker" / "build-input"
    for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy(cert, build_input / cert.name)
    run(
        [
            "docker",
            "build",
            "-q",
            "--build-arg",
            f"PYTHON_IMAGE={IMAGES['python']}",
            "-t",
            APP_IMAGE,
            ".",
        ],
        timeout=900,
    )
    lock = (ROOT / "requirements.lock").exists()
    notes.append("from requirements.lock (hashes)" if lock else "from pyproject.toml ranges")


def has_web() -> bool:
    return (
        run(
            ["docker", "run", "--rm", APP_IMAGE, "pushworker", "web", "--help"],
            check=False,
            timeout=120,
        ).returncode
        == 0
    )


def wait_healthy(compose: Compose, services: list[str], notes: list[str]) -> None:
    began, ready_at = time.monotonic(), {}

    def all_ready() -> bool:
        for c in compose.containers():
            name, state, health = c["Service"], c["State"], c.get("Health", "")
            if name == "migrate":
                if state == "exited" and int(c.get("ExitCode", 1)) != 0:
                    raise StageError(f"migrate failed:\n{compose.logs_tail()}")
                ready = state == "exited"
            else:
                if state in ("exited", "dead") or health == "unhealthy":
                    raise StageError(f"{name} is {state}/{health}:\n{compose.logs_tail()}")
                ready = state == "running" and health == "healthy"
            if ready and name not in ready_at:
                ready_at[name] = time.monotonic() - began
        return set(services) <= set(ready_at)

    wait_for("every service healthy", all_ready, timeout=240, interval=1)
    notes.append(
        ", ".join(f"{s} {t:.0f}s" for s, t in sorted(ready_at.items(), key=lambda i: i[1]))
    )


def register_devices(compose: Compose, web: bool, notes: list[str]) -> None:
    s = compose.settings
    android = {"user_id": OWNER, "platform": "android", "registration_id": "regid-" + OWNER}
    ios = {
        "user_id": OWNER,
        "platform": "ios",
        "alias": "QQC_" + OWNER,
        "ios_environment": "sandbox",
    }
    if not web:
        print(
            "SKIPPED the device API: this image has no `pushworker web` yet; devices are added "
            "with `pushworker device add` in the worker container instead",
            flush=True,
        )
        compose(
            "exec",
            "-T",
            "worker",
            "pushworker",
            "device",
            "add",
            "--user",
            OWNER,
            "--os",
            "android",
            "--reg-id",
            android["registration_id"],
            timeout=120,
        )
        compose(
            "exec",
            "-T",
            "worker",
            "pushworker",
            "device",
            "add",
            "--user",
            OWNER,
            "--os",
            "ios",
            "--alias",
            ios["alias"],
            "--sandbox",
            timeout=120,
        )
        notes.append("SKIPPED API (no `pushworker web` in the image): added through the CLI")
        return
    url = f"http://127.0.0.1:{s['WEB_PORT']}/api/v1/devices"
    refused, _ = http("POST", url, android)
    if refused not in (401, 403):
        raise StageError(f"POST {url} without a token answered {refused}, expected 401/403")
    auth = {"Authorization": f"Bearer {s['PUSHWORKER_API_TOKEN']}"}
    for device in (android, ios):
        status, body = http("POST", url, device, auth)
        if status not in (200, 201):
            raise StageError(f"POST {url} {device['platform']} answered {status}: {body[:300]}")
    notes.append(f"2 devices via POST /api/v1/devices; without the token: {refused}")


def enqueue_with_restart(compose: Compose, prefix: str, notes: list[str]) -> list[str]:
    """Enqueue from a one-off container while the worker container restarts; return goods ids."""
    cmd = [
        "docker",
        "compose",
        "-p",
        PROJECT,
        "--env-file",
        str(compose.env_file),
        "--profile",
        "demo",
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "worker",
        "python3",
        "-",
        OWNER,
        prefix,
        str(EVENTS),
        "0.1",
    ]
    enqueuer = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=compose.env, cwd=ROOT
    )
    assert enqueuer.stdin and enqueuer.stdout
    enqueuer.stdin.write((SCRIPTS / "enqueue.py").read_text())
    enqueuer.stdin.close()
    ids, restart_took = [], None
    for line in enqueuer.stdout:
        ids.append(line.strip())
        if len(ids) == RESTART_AFTER:
            began = time.monotonic()
            compose("restart", "worker", timeout=120)
            restart_took = time.monotonic() - began
    if enqueuer.wait(timeout=120) != 0 or len(ids) != EVENTS:
        raise StageError(f"the enqueuer exited {enqueuer.returncode} after {len(ids)} events")
    # One more through the documented command, in the restarted worker's container.
    compose(
        "exec",
        "-T",
        "worker",
        "pushworker",
        "send-goods-visit",
        "--owner",
        OWNER,
        "--visitor",
        "7",
        "--goods-id",
        f"{prefix}-cli",
        "--goods-name",
        "青花瓷碗",
        timeout=120,
    )
    notes.append(
        f"{EVENTS} events + 1 by the CLI; worker restarted after event {RESTART_AFTER} "
        f"(restart {restart_took:.1f} s)"
    )
    return [f"{prefix}-{i}" for i in range(EVENTS)] + [f"{prefix}-cli"]


def check_delivered(compose: Compose, goods: list[str], notes: list[str]) -> None:
    script = (SCRIPTS / "deliveries.py").read_text()

    def statuses() -> dict[str, str] | None:
        found = json.loads(compose.python("worker", script, goods[0].rsplit("-", 1)[0]))
        terminal = {"sent", "failed", "dead"}
        done = len(found) == len(goods) and all(v in terminal for v in found.values())
        return found if done else None

    found = wait_for("every delivery terminal", statuses, timeout=180, interval=3)
    not_sent = {g: found.get(g, "missing") for g in goods if found.get(g) != "sent"}
    port = compose.settings["EMULATOR_PORT"]
    status, body = http("GET", f"http://127.0.0.1:{port}/_emulator/messages")
    received: dict[str, int] = {}
    for message in json.loads(body)["messages"] if status == 200 else []:
        gid = message.get("fields", {}).get("extra.goods_id")
        received[gid] = received.get(gid, 0) + 1
    unreceived = [g for g in goods if received.get(g, 0) < 2]  # one Android + one iOS device
    extra = sum(max(0, received.get(g, 0) - 2) for g in goods)
    if not_sent or unreceived:
        raise StageError(f"lost: not sent {not_sent}; not received by the emulator {unreceived}")
    notes.append(
        f"{len(goods)} sent, {2 * len(goods)} messages received, lost 0, duplicates {extra}"
    )


def check_flower(compose: Compose, notes: list[str]) -> None:
    url = f"http://127.0.0.1:{compose.settings['FLOWER_PORT']}/"
    without, _ = http("GET", url)
    token = b64encode(compose.settings["FLOWER_BASIC_AUTH"].encode()).decode()
    with_auth, _ = http("GET", url, headers={"Authorization": f"Basic {token}"})
    wrong, _ = http("GET", url, headers={"Authorization": "Basic " + b64encode(b"ops:x").decode()})
    if (without, wrong, with_auth) != (401, 401, 200):
        raise StageError(f"Flower: no auth {without}, wrong {wrong}, right {with_auth}")
    notes.append("401 without, 401 wrong password, 200 with")


def check_logs(compose: Compose, notes: list[str]) -> None:
    logs = compose("logs", "--no-color", timeout=120).stdout
    keys = [k for k in compose.settings if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN"))]
    keys.append("FLOWER_BASIC_AUTH")
    leaked = [k for k in keys if compose.settings[k].split(":")[-1] in logs]
    if leaked:
        raise StageError(f"secrets in the services' logs: {leaked}")
    notes.append(f"{len(logs.splitlines())} lines, none of {len(keys)} secrets")


def main() -> int:
    report, compose, daemon, web = Report(), None, None, False
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("compose-test: terminated"))
    # One bound on the whole run, well inside CI's time; the teardown below still runs after it.
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"compose-test: over {TIME_LIMIT} s"))
    signal.alarm(TIME_LIMIT)
    prefix = f"ct{uuid.uuid4().hex[:8]}"
    try:
        with report.stage("engine") as notes:
            daemon = start_engine()
            notes.append("dockerd started here" if daemon else "dockerd already running")
        with report.stage("base image") as notes:
            notes.append(
                run(["bash", str(LOCAL / "base-image.sh"), BASE], timeout=600).stdout.strip()
            )
        with report.stage("local images") as notes:
            build_images(notes)
        with report.stage("project image") as notes:
            build_project(notes)
            web = has_web()
        compose = Compose(PROJECT, settings())
        compose("down", "-v", "--remove-orphans", timeout=180)  # what an aborted run left
        services = ["redis", "postgres", "migrate", "worker", "beat", "flower", "emulator"]
        services += ["web"] if web else []
        with report.stage("up") as notes:
            compose("up", "-d", "--no-build", "--pull", "never", *services, timeout=300)
            notes.append(" ".join(services))
        with report.stage("healthy") as notes:
            wait_healthy(compose, services, notes)
        with report.stage("devices") as notes:
            register_devices(compose, web, notes)
        with report.stage("enqueue+restart") as notes:
            goods = enqueue_with_restart(compose, prefix, notes)
        with report.stage("delivered") as notes:
            check_delivered(compose, goods, notes)
        with report.stage("flower auth") as notes:
            check_flower(compose, notes)
        with report.stage("no secret in logs") as notes:
            check_logs(compose, notes)
        return 0
    except (StageError, KeyboardInterrupt, SystemExit) as error:
        print(f"compose-test FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        if compose is not None:
            with report.stage("down -v"):
                compose("down", "-v", "--remove-orphans", "-t", "30", timeout=300, check=False)
        stop_engine(daemon)
        report.print()


if __name__ == "__main__":
    sys.exit(main())
