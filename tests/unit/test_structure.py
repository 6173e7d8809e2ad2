"""Structural tests guarding the wiring: migrations, import direction, queues, Celery's settings."""

from __future__ import annotations

import ast
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pushworker"
STDLIB = sys.stdlib_module_names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function-level imports too), made absolute."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def modules_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_import_helper_resolves_relative_imports() -> None:
    assert "pushworker.emulator.apps" in imports_of(PACKAGE / "emulator" / "server.py")


@pytest.mark.django_db
def test_migrations_are_up_to_date() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "pushworker", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail("models changed without a migration:\n" + out.getvalue())


@pytest.mark.parametrize("path", modules_in(PACKAGE / "mipush"), ids=lambda p: p.name)
def test_the_mipush_client_imports_httpx_and_the_standard_library_only(path: Path) -> None:
    imported = imports_of(path)
    foreign = {m for m in roots(imported) if m not in STDLIB and m not in ("httpx", "pushworker")}
    assert not foreign, f"{path.name} imports {foreign}"
    upward = {
        m for m in imported if m.startswith("pushworker") and not m.startswith("pushworker.mipush")
    }
    assert not upward, f"{path.name} imports {upward}"


@pytest.mark.parametrize("path", modules_in(PACKAGE / "emulator"), ids=lambda p: p.name)
def test_the_emulator_imports_neither_the_client_nor_django_nor_celery(path: Path) -> None:
    imported = imports_of(path)
    assert not roots(imported) & {"django", "celery", "kombu", "httpx"}, path.name
    outside = {
        m
        for m in imported
        if m.startswith("pushworker") and not m.startswith("pushworker.emulator")
    }
    assert not outside, f"{path.name} imports {outside}"


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


# The broker-facing modules: the tasks, the Celery app, its host wiring (integration), its consumer,
# transport and envelope checks, the command line (which sets the standalone app up) and the demo's
# stack. ``enqueue`` is not one: it calls the
# task it is handed and imports no Celery.
BROKER_MODULES = {
    "tasks.py",
    "celery.py",
    "integration.py",
    "beatlock.py",
    "cli.py",
    "demo/stack.py",
}


def _broker_facing(name: str) -> bool:
    return name in BROKER_MODULES or name.startswith(("broker/", "management/"))


@pytest.mark.parametrize("path", modules_in(PACKAGE), ids=relative)
def test_only_the_task_and_celery_app_modules_import_celery_or_kombu(path: Path) -> None:
    if not _broker_facing(relative(path)):
        assert not roots(imports_of(path)) & {"celery", "kombu"}, relative(path)


# Where a model's manager may be used: ``store/`` reads and writes every row the engine, the
# relay and the purge need; the operator-facing edges (the admin, the device API, the command line,
# the demo, the management commands) read and create rows for people. The engine asks store/.
MANAGER_USERS = (
    "store/",
    "web/admin/",
    "web/api/",
    "cli.py",
    "demo/",
    "management/",
    "migrations/",
)


def manager_uses(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("objects", "_base_manager", "_default_manager")
    ]


@pytest.mark.parametrize("path", modules_in(PACKAGE), ids=relative)
def test_only_the_store_and_the_operator_edges_touch_the_models_managers(path: Path) -> None:
    if not relative(path).startswith(MANAGER_USERS):
        assert not manager_uses(path), f"{relative(path)} uses .objects at {manager_uses(path)}"


def test_the_rule_finds_a_manager_use() -> None:
    assert manager_uses(PACKAGE / "store" / "deliveries.py")
    assert manager_uses(PACKAGE / "store" / "users.py")  # _default_manager counts too


def imports_of_module(name: str) -> set[str]:
    """What a module imports; for a package (``events``), what any of its modules imports."""
    path = PACKAGE / f"{name.replace('.', '/')}.py"
    if path.exists():
        return imports_of(path)
    return set().union(*(imports_of(p) for p in modules_in(PACKAGE / name)))


def is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def pushworker_modules(name: str) -> set[str]:
    """The pushworker modules ``name`` imports, by their last name (``store.records``: records)."""
    imported = imports_of(PACKAGE / f"{name.replace('.', '/')}.py")
    found = {m for m in imported if m.startswith("pushworker.") and is_module(m)}
    # A package counts only when nothing below it is imported (``from pushworker import conf``).
    return {m.rsplit(".", 1)[-1] for m in found if not any(o.startswith(m + ".") for o in found)}


def test_one_event_walks_tasks_service_engine_sender_mipush_with_no_detour() -> None:
    # tasks -> service -> engine -> (planning, sender) -> mipush: docs/architecture.md.
    assert "service" in pushworker_modules("tasks")
    assert pushworker_modules("delivery.service") <= {
        "conf",
        "engine",
        "base",
        "connection",  # a run the database failed gives its rows back on a new connection
        "deliveries",
        "models",
    }
    assert {"planning", "sender"} <= pushworker_modules("delivery.engine")
    assert "mipush" in pushworker_modules("delivery.sender")
    # Only the sender holds a client and the HTTP library; the rest decides, it does not send.
    for path in modules_in(PACKAGE / "delivery"):
        found = roots(imports_of(path)) & {"httpx", "tenacity"}
        assert bool(found) == (path.name == "sender.py"), path.name


def test_one_function_sends_one_event_or_many() -> None:
    """The per-event path and the drains share the engine: no module but the sender calls the
    client, and the sender has one public send."""
    from pushworker.delivery import sender

    sends = [n for n in vars(sender) if n == "send" or n.startswith("send_")]
    assert sends == ["send"]
    callers = [
        p.name
        for p in modules_in(PACKAGE / "delivery")
        if "sender.send(" in p.read_text(encoding="utf-8")
    ]
    assert callers == ["engine.py"]


def test_models_never_send() -> None:
    imported = imports_of(PACKAGE / "store" / "models.py")
    assert not {m for m in imported if m.startswith("pushworker")}, imported


def test_the_event_limits_fit_the_delivery_columns() -> None:
    from pushworker import events
    from pushworker.store.models import Delivery

    def column(name: str) -> int:
        return Delivery._meta.get_field(name).max_length

    # The kind's own arguments live in the JSON payload, which has no length to outgrow.
    for field in ("recipient_id", "subject_id"):
        assert column(field) >= events.MAX_ID_LENGTH, field
    assert column("app_name") >= events.MAX_APP_NAME_LENGTH
    assert column("kind") >= max(len(name) for name in events.registry.kinds())


def kinds():
    from pushworker.events import registry

    return list(registry.kinds().values())


@pytest.mark.parametrize("kind", kinds(), ids=lambda k: k.kind)
def test_every_registered_kind_is_complete(kind) -> None:
    """Its module declares everything the pipeline asks of a kind (events/base.py)."""
    import dataclasses

    from pushworker.broker import queues
    from pushworker.events import base, notification, validators

    module = PACKAGE / "events" / f"{kind.kind}.py"
    assert module.exists() and kind.__module__ == f"pushworker.events.{kind.kind}"
    assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen
    names = {f.name for f in dataclasses.fields(kind)}
    assert names == {"event_id", "app_name", *kind.arguments}, names
    assert kind.recipient in kind.arguments and kind.subject in kind.arguments
    assert isinstance(kind.policy, base.KindPolicy)
    assert kind.policy.priority in base.Priority and kind.policy.quota_exhausted in base.OnQuota
    assert kind.notification is not base.Event.notification, "no notification"
    assert all(callable(check) for check in kind.arguments.values())
    assert kind.task_name() == f"pushworker.send_{kind.kind}"
    assert queues.ROUTES[kind.task_name()] == {"queue": queues.queue_of(kind.policy.priority)}
    # Its checks come from the shared validators: a call with every argument missing is refused
    # with the task's name, and a row rebuilds the event it was written from.
    with pytest.raises(validators.InvalidEventError, match=f"^send_{kind.kind}: "):
        kind.from_call()
    assert notification.Notification.__dataclass_fields__  # what notification() must return
    assert len(module.read_text(encoding="utf-8").splitlines()) <= 300


def test_every_registered_kind_has_its_task_under_its_stable_name(celery_app) -> None:
    from pushworker import tasks

    for kind in kinds():
        task = celery_app.tasks[kind.task_name()]
        assert getattr(tasks, f"send_{kind.kind}").name == task.name
        assert task.kind_class is kind


@pytest.fixture(scope="module")
def celery_app():
    import pushworker.tasks  # noqa: F401 - registers the shared tasks
    from pushworker.celery import app

    return app


@pytest.fixture(scope="module")
def celeryconfig(celery_app):
    """The standalone app's effective configuration: broker/celeryconfig.py plus install()."""
    return celery_app.conf


def test_every_routed_task_is_registered_on_the_app(celery_app) -> None:
    from pushworker.broker.install import ROUTES

    registered = set(celery_app.tasks)
    assert set(ROUTES) <= registered, set(ROUTES) - registered
    assert {name for name in registered if name.startswith("pushworker")} == set(ROUTES)


def test_every_routed_queue_is_declared(celeryconfig) -> None:
    from pushworker.broker.install import ROUTES

    declared = {queue.name for queue in celeryconfig.task_queues}
    assert {route["queue"] for route in ROUTES.values()} <= declared
    assert celeryconfig.task_default_queue in declared


def test_every_scheduled_task_is_registered_and_routed(celery_app, celeryconfig) -> None:
    from pushworker.broker.install import ROUTES

    for entry in celeryconfig.beat_schedule.values():
        assert entry["task"] in celery_app.tasks
        assert entry["task"] in ROUTES


def test_task_names_are_explicit_so_a_module_rename_cannot_orphan_queued_messages() -> None:
    from pushworker import tasks

    for task in (tasks.send_goods_visit, tasks.relay_outbox, tasks.sweep_stuck):
        assert task.name.startswith("pushworker.") and task.name.count(".") == 1


def test_celery_accepts_json_only(celeryconfig) -> None:
    assert celeryconfig.accept_content == ["json"]
    assert celeryconfig.task_serializer == "json"
    assert celeryconfig.result_serializer == "json"
    assert celeryconfig.event_serializer == "json"


def test_messages_are_acknowledged_late_and_requeued_when_a_worker_dies(celery_app) -> None:
    for name in ("pushworker.send_goods_visit", "pushworker.relay_outbox"):
        task = celery_app.tasks[name]
        assert task.acks_late is True and task.reject_on_worker_lost is True, name
    assert celery_app.conf.worker_prefetch_multiplier == 1


def test_no_retry_countdown_can_outlast_the_visibility_timeout(celery_app) -> None:
    # pushworker.conf enforces "at most half": a countdown is held unacknowledged by the worker,
    # so a longer one would be redelivered by Redis before it is due.
    from pushworker import conf

    settings = conf.get()
    visibility = celery_app.conf.broker_transport_options["visibility_timeout"]
    assert visibility == settings.visibility_timeout
    assert visibility >= 2 * settings.retry.cap_seconds
    assert celery_app.tasks["pushworker.send_goods_visit"].time_limit < visibility


def test_by_default_a_full_countdown_and_the_longest_run_fit_in_the_visibility_timeout() -> None:
    from pushworker import conf

    settings = conf.load({})
    longest_run = settings.claim_lease_seconds - 2
    assert settings.retry.cap_seconds + longest_run < settings.visibility_timeout


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in modules_in(PACKAGE)
        # Generated migrations and empty package markers say nothing to document.
        if "migrations" not in p.parts and p.read_text(encoding="utf-8").strip()
    ],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_every_module_starts_with_a_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{path.relative_to(ROOT)} has no module docstring"
    assert isinstance(tree.body[0], ast.Expr)  # first, before the imports
