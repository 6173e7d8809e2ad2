"""Django system checks of the Celery apps ``install()`` wired: what would break pushworker's tasks.

``install()`` records what it cannot reconcile instead of raising (a different visibility timeout,
a broker that is not Redis); these checks report it, and whatever a host setting still changes on
pushworker's own tasks, each naming the setting as the host wrote it (``CELERY_TASK_ANNOTATIONS``
under Celery's Django namespace, ``task_annotations`` without one).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from celery import current_app
from celery.app.annotations import prepare, resolve_all
from django.core import checks

from pushworker.broker import install


@checks.register("pushworker")
def check_celery_app(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """E004 per problem of the app ``delay()`` publishes through; W004 when install() never ran
    on it (``delay()`` would raise)."""
    app = current_app._get_current_object()  # where shared tasks such as send_goods_visit bind
    if not install.is_installed(app):
        return [
            checks.Warning(
                f"the current Celery app {app.main or 'default'!r} was not wired by "
                "pushworker.broker.install.install(): send_<kind>.delay() raises until it is",
                hint="call install(app) in your Celery module and import that module at "
                "start-up (your project's __init__.py), or name it in PUSHWORKER_CELERY_APP",
                id="pushworker.W004",
            )
        ]
    problems = install.problems(app) + _overridden(app) + _protocol(app)
    where = f"Celery app {app.main!r}"
    return [checks.Error(problem, obj=where, id="pushworker.E004") for problem in problems]


def setting_name(app: Any, key: str) -> str:
    """How the host wrote the Celery setting ``key``: with its Django namespace, if it has one."""
    namespace = getattr(app, "namespace", None)
    return f"{namespace}_{key.upper()}" if namespace else key


def _overridden(app: Any) -> list[str]:
    """Options of pushworker's tasks that the host's annotations replace.

    Celery applies the first annotation naming a task (pushworker's, first in the tuple), then the
    first ``"*"`` one, which wins: a host ``{"*": {"soft_time_limit": 70}}`` would set 70 on
    pushworker's tasks too, above their hard limit, and every publish would fail.
    """
    ours: dict[str, dict[str, Any]] = getattr(app, "_pushworker_annotations", {})
    try:
        given = prepare(app.conf.task_annotations)
    except Exception as error:  # noqa: BLE001 - a broken annotation object is reported, not raised
        return [f"{setting_name(app, 'task_annotations')} cannot be read: {error}"]
    found = []
    for name, options in ours.items():
        effective: dict[str, Any] = {}
        for annotation in resolve_all(given, SimpleNamespace(name=name)):
            effective.update(annotation)
        changed = sorted(k for k, v in options.items() if k in effective and effective[k] != v)
        if changed:
            found.append(
                f"{setting_name(app, 'task_annotations')} changes {', '.join(changed)} of "
                f"{name} ({', '.join(f'{k}={effective[k]!r}' for k in changed)}; pushworker "
                f"needs {', '.join(f'{k}={options[k]!r}' for k in changed)}): name your own "
                "tasks instead of '*', or leave these options out"
            )
    return found


def _protocol(app: Any) -> list[str]:
    if app.conf.task_protocol == 2:
        return []
    return [
        f"{setting_name(app, 'task_protocol')} is {app.conf.task_protocol!r}: pushworker's workers "
        "dead-letter every task message that is not Celery's protocol 2"
    ]
