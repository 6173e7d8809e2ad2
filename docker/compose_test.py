"""`make compose-test`: images built without a registry, the compose stack run, checked, torn down.

Stages, each timed in the closing report: the engine (Debian's docker.io, dockerd, the compose
plugin), the base image (debootstrap, cached once imported), the local Redis/PostgreSQL/Python/
Prometheus images standing in for the official ones, the project image, `make compose-up`'s image
check naming the variable of an image it cannot pull, `up` with the demo and ops profiles, every
healthcheck, device registration through the API, events enqueued while the worker container
restarts (and how soon it is healthy again), every event sent and received by the emulator,
Prometheus scraping web and worker and counting deliveries as the worker does, Flower's basic
auth, every log line of worker, beat, web and emulator one JSON object, no secret in any log, and
`down -v`, which runs whatever happened. Only loopback ports and compose-internal names are used.
"""

from __future__ import annotations

import shutil
import signal
import sys
import uuid
from pathlib import Path

from compose_checks import (
    check_compose_file,
    check_delivered,
    check_flower,
    check_json_logs,
    check_logs,
    check_prometheus,
    check_pull_names_its_variable,
    enqueue_with_restart,
    register_devices,
    up,
    wait_healthy,
)
from compose_stack import (
    LOCAL,
    ROOT,
    Compose,
    Report,
    StageError,
    free_port,
    password,
    run,
    start_engine,
    stop_engine,
)

PROJECT = "pushworker-compose-test"
BASE = "pushworker-local/base:bookworm"
IMAGES = {
    "redis": "pushworker-local/redis:bookworm",
    "postgres": "pushworker-local/postgres:bookworm",
    "python": "pushworker-local/python:bookworm",
    "prometheus": "pushworker-local/prometheus:bookworm",
}
APP_IMAGE = "pushworker:compose-test"
TIME_LIMIT = 1800  # s


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
        "PROMETHEUS_IMAGE": IMAGES["prometheus"],
        "PUSHWORKER_IMAGE": APP_IMAGE,
        "HEALTHCHECK_INTERVAL": "3s",
        "WORKER_CONCURRENCY": "2",
        # 40 people view one owner's goods and each visit must arrive: the daily cap and the
        # digest (tests/unit/test_policy.py) would hold 35 of them back.
        "PUSHWORKER_POLICY": "off",
        "WEB_PORT": str(free_port()),
        "FLOWER_PORT": str(free_port()),
        "EMULATOR_PORT": str(free_port()),
        "PROMETHEUS_PORT": str(free_port()),
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
    notes.append("redis, postgres, python, prometheus from Debian packages")


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


def prune_replaced() -> None:
    """Drop the images this test built before that a rebuild left untagged (only those)."""
    for title in ["pushworker", *(f"pushworker-local-{name}" for name in IMAGES)]:
        label = f"label=org.opencontainers.image.title={title}"
        run(["docker", "image", "prune", "-f", "--filter", label], timeout=120)


def main() -> int:
    report, compose, daemon = Report(), None, None
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
            prune_replaced()
        compose = Compose(PROJECT, settings())
        with report.stage("compose file") as notes:
            check_compose_file(compose, notes)
        with report.stage("pull names var") as notes:
            check_pull_names_its_variable(compose, notes)
        compose("down", "-v", "--remove-orphans", timeout=180)  # what an aborted run left
        services = ["redis", "postgres", "migrate", "worker", "beat", "flower", "emulator", "web"]
        services += ["prometheus"]
        with report.stage("up") as notes:
            up(compose, services, notes)
        with report.stage("healthy") as notes:
            wait_healthy(compose, services, notes)
        with report.stage("devices") as notes:
            register_devices(compose, notes)
        with report.stage("enqueue+restart") as notes:
            goods = enqueue_with_restart(compose, prefix, notes)
        with report.stage("delivered") as notes:
            check_delivered(compose, goods, notes)
        with report.stage("prometheus") as notes:
            check_prometheus(compose, prefix, notes)
        with report.stage("flower auth") as notes:
            check_flower(compose, notes)
        with report.stage("json logs") as notes:
            check_json_logs(compose, notes)
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
