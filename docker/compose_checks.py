"""The compose test's checks of the running stack: images, health, devices, events, Prometheus,
Flower, logs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from base64 import b64encode
from pathlib import Path
from urllib.parse import quote, urlencode

from compose_stack import ROOT, Compose, StageError, http, run, wait_for

OWNER, EVENTS, RESTART_AFTER, MORE = "4242", 40, 12, 5
SCRIPTS = Path(__file__).resolve().parent / "compose_scripts"
COMPOSE_UP = Path(__file__).resolve().parent / "compose_up.py"
JSON_SERVICES = ("worker", "beat", "web", "emulator")  # pushworker's own processes


def _compose_options(compose: Compose) -> list[str]:
    """The `docker compose` options of ``compose`` (project, env file, profiles)."""
    return compose.command()[2:]


def check_pull_names_its_variable(compose: Compose, notes: list[str]) -> None:
    """`make compose-up` with an image no registry has: it names the image's variable and the
    Debian-built stand-in instead of Docker's lookup error."""
    missing = Compose(compose.project + "-pull", compose.settings | {"REDIS_IMAGE": "x/absent:0"})
    checked = run(
        [sys.executable, str(COMPOSE_UP), *_compose_options(missing), "--check"],
        env=missing.env,
        check=False,
        timeout=300,
    )
    said = checked.stderr
    if checked.returncode != 1 or "REDIS_IMAGE" not in said or "pushworker-local/redis" not in said:
        raise StageError(f"compose-up on an absent image exited {checked.returncode}: {said[:500]}")
    notes.append("absent x/absent:0 named as REDIS_IMAGE, pushworker-local/redis suggested")


def up(compose: Compose, services: list[str], notes: list[str]) -> None:
    """`make compose-up`'s way: every image checked, then `up -d` (images built here: no pull)."""
    args = [sys.executable, str(COMPOSE_UP), *_compose_options(compose), "--"]
    args += ["-d", "--no-build", "--pull", "never", *services]
    try:
        run(args, env=compose.env, timeout=300)
    except StageError as error:
        raise StageError(f"{error}\n{compose.logs_tail()}") from error
    notes.append(" ".join(services))


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


def register_devices(compose: Compose, notes: list[str]) -> None:
    s = compose.settings
    android = {"user_id": OWNER, "platform": "android", "registration_id": "regid-" + OWNER}
    ios = {
        "user_id": OWNER,
        "platform": "ios",
        "alias": "QQC_" + OWNER,
        "ios_environment": "sandbox",
    }
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
    args = ("run", "--rm", "--no-deps", "-T", "worker", "python3", "-", OWNER, prefix)
    cmd = compose.command(*args, str(EVENTS), "0.1")
    enqueuer = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=compose.env, cwd=ROOT
    )
    assert enqueuer.stdin and enqueuer.stdout
    enqueuer.stdin.write((SCRIPTS / "enqueue.py").read_text())
    enqueuer.stdin.close()
    ids, restart_took, healthy_after = [], None, None
    for line in enqueuer.stdout:
        ids.append(line.strip())
        if len(ids) == RESTART_AFTER:
            began = time.monotonic()
            compose("restart", "worker", timeout=120)
            restarted = time.monotonic()
            restart_took = restarted - began
            wait_for("the restarted worker healthy", lambda: _healthy(compose, "worker"), 60, 0.5)
            healthy_after = time.monotonic() - restarted
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
        f"(restart {restart_took:.1f} s, healthy {healthy_after:.1f} s after it)"
    )
    return [f"{prefix}-{i}" for i in range(EVENTS)] + [f"{prefix}-cli"]


def _healthy(compose: Compose, service: str) -> bool:
    return any(
        c["Service"] == service and c.get("Health") == "healthy" for c in compose.containers()
    )


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


SENT = 'sum(pushworker_deliveries_total{status="sent"})'


def _prometheus(compose: Compose, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{compose.settings['PROMETHEUS_PORT']}/api/v1/{path}"
    status, body = http("GET", f"{url}?{urlencode(params)}" if params else url)
    if status != 200:
        raise StageError(f"Prometheus {path}: HTTP {status}: {body[:200]}")
    return json.loads(body)["data"]


def _scraped_sent(compose: Compose) -> int | None:
    result = _prometheus(compose, "query", query=SENT)["result"]
    return int(float(result[0]["value"][1])) if result else None


def _workers_sent(compose: Compose) -> int:
    """The worker's own count, from its /metrics inside the network."""
    script = (
        "import urllib.request; text = urllib.request.urlopen("
        "'http://127.0.0.1:9100/metrics', timeout=10).read().decode(); "
        "print(sum(float(l.rsplit(' ', 1)[1]) for l in text.splitlines() "
        "if l.startswith('pushworker_deliveries_total{') and 'status=\"sent\"' in l))"
    )
    return int(float(compose.python("worker", script)))


def check_prometheus(compose: Compose, prefix: str, notes: list[str]) -> None:
    """The ops profile's Prometheus scrapes web and worker, has docs/alerts.yml's rules, and its
    count of sent deliveries is the worker's, before and after MORE events."""
    wait_for(
        "web and worker scraped",
        lambda: (
            {"pushworker-web", "pushworker-worker"}
            <= {
                t["labels"]["job"]
                for t in _prometheus(compose, "targets")["activeTargets"]
                if t["health"] == "up"
            }
        ),
        timeout=90,
        interval=2,
    )
    rules = [r["name"] for g in _prometheus(compose, "rules")["groups"] for r in g["rules"]]
    if "PushworkerXiaomiTransientErrors" not in rules:
        raise StageError(f"Prometheus has not loaded docs/alerts.yml: {rules}")
    before = _workers_sent(compose)
    wait_for("Prometheus' count = the worker's", lambda: _scraped_sent(compose) == before, 90, 2)
    visit = ["send-goods-visit", "--owner", OWNER, "--goods-name", "紫砂壶"]
    for n in range(MORE - 1):
        more = ["--visitor", f"9{n}", "--goods-id", f"{prefix}-more-{n}"]
        compose("exec", "-T", "worker", "pushworker", *visit, *more, timeout=120)
    # An urgent kind has its own queue, pushworker.urgent: the worker must consume it too.
    shipped = ["send", "order_shipped", "--buyer-id", OWNER, "--order-id", f"{prefix}-order"]
    shipped += ["--goods-name", "紫砂壶", "--carrier", "顺丰"]
    compose("exec", "-T", "worker", "pushworker", *shipped, timeout=120)
    after = before + MORE
    wait_for("MORE sent, counted", lambda: _workers_sent(compose) == after, 120, 2)
    wait_for("Prometheus' count grown by MORE", lambda: _scraped_sent(compose) == after, 90, 2)
    notes.append(
        f"web+worker scraped, {len(rules)} rules; sent {before} → {after} in Prometheus "
        "(an order shipped among them, through pushworker.urgent)"
    )


def check_json_logs(compose: Compose, notes: list[str]) -> None:
    """Every line of pushworker's own services is one JSON object (they log JSON: no terminal)."""
    counts, bad = {}, {}
    for service in JSON_SERVICES:
        # The containers' own output (`docker compose logs` adds terminal escapes to each line).
        lines = []
        for container in compose("ps", "-a", "-q", service, timeout=60).stdout.split():
            logs = run(["docker", "logs", container], timeout=120)
            lines += (logs.stdout + logs.stderr).splitlines()
        counts[service] = len(lines)
        bad[service] = [line for line in lines if not _is_json_object(line)]
    if any(bad.values()):
        shown = {s: lines[:3] for s, lines in bad.items() if lines}
        raise StageError(f"lines that are not JSON objects: {shown}")
    notes.append(", ".join(f"{s} {n}" for s, n in counts.items()) + " lines, 0 not JSON")


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


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
    secret = ("PASSWORD", "SECRET", "TOKEN")  # the app secrets, the Django key, the API token
    values = {k: v for k, v in compose.settings.items() if any(w in k for w in secret)}
    values["FLOWER_BASIC_AUTH"] = compose.settings["FLOWER_BASIC_AUTH"].partition(":")[2]
    # Raw, or percent-encoded as it stands in the broker and database URLs.
    leaked = [k for k, v in values.items() if v in logs or quote(v, safe="") in logs]
    if leaked:
        raise StageError(f"secrets in the services' logs: {leaked}")
    notes.append(f"{len(logs.splitlines())} lines, none of {len(values)} secrets")


REQUIRED = (
    "REDIS_PASSWORD",
    "POSTGRES_PASSWORD",
    "PUSHWORKER_SECRET_KEY",
    "PUSHWORKER_API_TOKEN",
    "FLOWER_BASIC_AUTH",
    "MIPUSH_ANDROID_APP_SECRET",
    "MIPUSH_IOS_APP_SECRET",
    "MIPUSH_PRODUCTION_URL",
    "MIPUSH_SANDBOX_URL",
)
MIPUSH_SECRETS = ("MIPUSH_ANDROID_APP_SECRET", "MIPUSH_IOS_APP_SECRET")


def check_compose_file(compose: Compose, notes: list[str]) -> None:
    """Safe by default: each secret required, secrets only where used, the worker after migrate."""
    for key in REQUIRED:
        without = {k: v for k, v in compose.settings.items() if k != key}
        config = Compose(compose.project + "-config", without, unset=[key])
        missing = config("config", "-q", check=False)
        if missing.returncode == 0 or key not in missing.stderr:
            raise StageError(f"compose starts without {key}: {missing.stderr.strip()[:200]}")
    services = json.loads(compose("config", "--format", "json").stdout)["services"]
    problems = []
    for name, service in services.items():
        env = service.get("environment") or {}
        if name != "migrate" and "healthcheck" not in service:
            problems.append(f"{name} has no healthcheck")
        if any(k in env for k in MIPUSH_SECRETS) != (name in ("worker", "emulator")):
            problems.append(
                f"{name} gets MiPush secrets: {sorted(k for k in env if 'MIPUSH' in k)}"
            )
        if any(v and "://" in v and "@" in v for v in env.values()):
            problems.append(f"{name} gets a URL with a password in it")
    for name in ("web", "worker", "beat"):
        condition = services[name]["depends_on"].get("migrate", {}).get("condition")
        if condition != "service_completed_successfully":
            problems.append(f"{name} does not wait for migrate ({condition})")
    if services["emulator"].get("profiles") != ["demo"]:
        problems.append("the emulator is not in the demo profile only")
    prometheus = services["prometheus"]
    if prometheus.get("profiles") != ["ops"]:
        problems.append("Prometheus is not in the ops profile only")
    if any(p.get("host_ip") != "127.0.0.1" for s in services.values() for p in s.get("ports", [])):
        problems.append("a port is published beyond the loopback")
    mounted = {v.get("target") for v in prometheus.get("volumes", [])}
    if "/etc/prometheus/alerts.yml" not in mounted:
        problems.append("Prometheus does not load docs/alerts.yml")
    if problems:
        raise StageError("; ".join(problems))
    notes.append(
        f"{len(REQUIRED)} secrets required; MiPush secrets in worker+emulator only; "
        "Prometheus in ops, loopback"
    )
