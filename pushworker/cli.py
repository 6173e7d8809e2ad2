"""The ``pushworker`` command line: demo, emulator, check, manage, web, device, preferences, send,
purge, stats."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence


def _django() -> None:
    """Set up the standalone service: Django from the environment and the Celery app as current."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")
    import django
    from django.apps import apps

    # django.setup() configures logging each time it runs, binding new handlers to the sys.stderr
    # of that moment; called again where Django is set up (a test capturing output, a host's
    # shell), it would leave them writing to a stream its owner later closes.
    if not apps.ready:
        django.setup()
    import pushworker.celery  # noqa: F401 - makes the standalone app the one tasks publish with


def _check(args: argparse.Namespace) -> int:
    from pushworker import conf

    try:
        settings = conf.load()
    except conf.SettingsError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(settings.describe(), indent=2, ensure_ascii=False))
    broker = os.environ.get("PUSHWORKER_BROKER_URL") or "redis://127.0.0.1:6379/0"
    from kombu.utils.url import maybe_sanitize_url

    # A sentinel:// URL lists every sentinel, separated by ";": each is masked on its own.
    print(f"broker: {';'.join(maybe_sanitize_url(url) for url in broker.split(';'))}")
    from pushworker.broker.celeryconfig import broker_settings

    try:  # the scheme, and a sentinel:// URL's master name
        broker_settings(os.environ)
    except conf.SettingsError as error:
        print(error, file=sys.stderr)
        return 1
    if settings.credential_problems:
        print(
            "a worker would refuse to start:\n  - " + "\n  - ".join(settings.credential_problems),
            file=sys.stderr,
        )
        return 1
    return 0


def _manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["pushworker manage", *args.rest])
    return 0


def _device(args: argparse.Namespace) -> int:
    _django()
    from pushworker import conf
    from pushworker.store import devices
    from pushworker.store.models import Environment, PushDevice

    if args.device_command == "prune":
        if args.inactive_days < 0:
            print("device prune: --inactive-days: must be 0 or more", file=sys.stderr)
            return 2
        count = devices.prune(args.inactive_days, dry_run=args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        print(
            f"{verb} {count} inactive device{'s' if count != 1 else ''}"
            f" deactivated more than {args.inactive_days} days ago"
        )
        return 0
    app = args.app or conf.get().default_app
    if args.device_command == "add":
        from django.core.exceptions import ValidationError

        registration = devices.Registration(
            user_id=args.user,
            platform=args.os,
            app_name=app,
            registration_id=args.reg_id or "",
            alias=args.alias or "",
            ios_environment=Environment.SANDBOX if args.sandbox else Environment.PRODUCTION,
        )
        candidate = PushDevice(
            user_id=registration.user_id,
            app_name=app,
            os_type=registration.platform,
            registration_id=registration.registration_id,
            alias=registration.alias,
            ios_environment=registration.ios_environment,
        )
        try:  # the model's own rules, the same the admin form applies; uniqueness is the upsert's
            candidate.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                print(f"device add: {field}: {' '.join(problems)}", file=sys.stderr)
            return 2
        device, created = devices.register(registration)  # an upsert, like the device API's
        verb = "added" if created else "updated"
        print(f"{verb} device {device.pk} for user {device.user_id} ({device.os_type}, {app})")
        return 0
    devices = PushDevice.objects.filter(user_id=args.user, app_name=app).order_by("-modify_time")
    for d in devices:
        target = (
            f"regid {d.registration_id[:6]}…"
            if d.registration_id
            else f"alias {d.alias or '(default)'}"
        )
        env = d.ios_environment if d.os_type == "ios" else "production"
        state = "active" if d.is_active else f"inactive ({d.deactivated_reason})"
        print(f"{d.pk}\t{d.os_type}\t{env}\t{target}\t{state}")
    if not devices:
        print(f"no devices for user {args.user} in app {app}", file=sys.stderr)
    return 0


def _preferences(args: argparse.Namespace) -> int:
    """``preferences show|set``: the API's body on the command line, checked by the API's rules."""
    _django()
    from pushworker import conf
    from pushworker.store import preferences
    from pushworker.web.api import preferences as api

    settings = conf.get()
    app_name = args.app or settings.default_app
    if app_name not in settings.apps:
        print(f"preferences: --app: not one of the apps {sorted(settings.apps)}", file=sys.stderr)
        return 2
    body = api.shown(args.user, settings.apps[app_name], preferences.of(args.user, app_name))
    if args.preferences_command == "set":
        default = {"default", "app", ""}
        for option, key in (("time_zone", "time_zone"), ("quiet_hours", "quiet_hours")):
            if (value := getattr(args, option)) is not None:
                body[key] = None if value in default else value
        if args.summary_hour is not None:
            hour = args.summary_hour
            body["summary_hour"] = (
                None if hour in default else int(hour) if hour.isdigit() else hour
            )
        for pair in args.kind or ():
            kind, _, mode = pair.partition("=")
            body["kinds"][kind] = mode
        checked = api.PreferencesSerializer(data=body)
        if not checked.is_valid():
            for field, problems in checked.errors.items():
                print(f"preferences set: {field}: {' '.join(problems)}", file=sys.stderr)
            return 2
        saved = preferences.save(
            args.user,
            settings.apps[app_name],
            checked.validated_data["choices"],
            slot=settings.summary_slot,
        )
        body = api.shown(args.user, settings.apps[app_name], saved)
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0


def _web(args: argparse.Namespace) -> int:
    _django()
    from pushworker.web import server as web

    return web.serve(args.host, args.port, workers=args.workers)


def _purge(args: argparse.Namespace) -> int:
    _django()
    from pushworker.store import purge

    try:
        older_than = purge.parse_age(args.older_than) if args.older_than else None
    except ValueError as error:
        print(f"pushworker: {error}", file=sys.stderr)
        return 2
    report = purge.purge(
        older_than=older_than,
        dry_run=args.dry_run,
        batch_size=args.batch_size,
        max_seconds=args.max_seconds,
    )
    print(report.summary())
    for scope, count in sorted(report.by_scope.items()):
        print(f"  {scope}: {count}")
    return 0


def _send_kind(args: argparse.Namespace) -> int:
    """``pushworker send KIND --arg value …``: the kind's task, called with its own arguments."""
    _django()
    from pushworker.events import registry
    from pushworker.ops import logs
    from pushworker.tasks import TASKS

    kind = registry.get(args.kind)
    given = {name: getattr(args, name) for name in [*kind.arguments, "app_name", "event_id"]}
    with logs.operator_action():  # its "enqueued" line at INFO
        result = TASKS[kind.kind].delay(**{k: v for k, v in given.items() if v is not None})
    print(result.id)
    return 0


def _send_arguments(commands) -> None:
    from pushworker.events import registry

    send = commands.add_parser("send", help="enqueue one event of any kind, as the web would")
    kinds = send.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, kind in registry.kinds().items():
        one = kinds.add_parser(name, help=(kind.__doc__ or name).splitlines()[0])
        for argument in kind.arguments:
            one.add_argument("--" + argument.replace("_", "-"), dest=argument)
        one.add_argument("--app", "--app-name", dest="app_name")
        one.add_argument("--event-id", dest="event_id")
        one.set_defaults(func=_send_kind)


def _stats(args: argparse.Namespace) -> int:
    _django()
    from pushworker.store import stats

    try:
        since = stats.window(args.since)
    except ValueError as error:
        print(f"pushworker stats: {error}", file=sys.stderr)
        return 2
    print(stats.report(since))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pushworker.demo import run

    return run(args)


def _emulator(args: argparse.Namespace) -> int:
    from pushworker.emulator.cli import run

    return run(args)


def parser() -> argparse.ArgumentParser:
    from pushworker.emulator.cli import add_arguments as emulator_arguments

    top = argparse.ArgumentParser(prog="pushworker", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the whole pipeline on embedded defaults")
    demo.add_argument("--events", type=int, default=60, help="goods-visit events to enqueue")
    demo.set_defaults(func=_demo)

    emulator = commands.add_parser("emulator", help="run the local Xiaomi Push emulator")
    emulator_arguments(emulator)
    emulator.set_defaults(func=_emulator)

    commands.add_parser(
        "check", help="print the effective configuration, secrets masked"
    ).set_defaults(func=_check)

    manage = commands.add_parser("manage", help="Django management commands, e.g. 'manage migrate'")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(func=_manage)

    web = commands.add_parser(
        "web", help="serve the admin, the device API and /healthz with gunicorn (production)"
    )
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    web.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    web.set_defaults(func=_web)

    device = commands.add_parser("device", help="register or list a user's devices")
    device_commands = device.add_subparsers(dest="device_command", required=True)
    add = device_commands.add_parser("add")
    add.add_argument("--user", required=True)
    add.add_argument("--os", required=True, choices=("ios", "android"))
    add.add_argument("--reg-id")
    add.add_argument("--alias", help="defaults to the app's alias prefix + user id")
    add.add_argument("--sandbox", action="store_true", help="iOS development build (sandbox host)")
    add.add_argument("--app")
    listing = device_commands.add_parser("list")
    listing.add_argument("--user", required=True)
    listing.add_argument("--app")
    prune = device_commands.add_parser("prune", help="delete devices long inactive")
    prune.add_argument("--inactive-days", type=int, required=True, metavar="N")
    prune.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    device.set_defaults(func=_device)

    chosen = commands.add_parser(
        "preferences", help="show or set a recipient's notification preferences"
    )
    chosen_commands = chosen.add_subparsers(dest="preferences_command", required=True)
    chosen_commands.add_parser("show").add_argument("--user", required=True)
    change = chosen_commands.add_parser(
        "set", help="change what is given, keep the rest ('default': the app's own)"
    )
    change.add_argument("--user", required=True)
    change.add_argument(
        "--kind", action="append", metavar="KIND=MODE", help="instant, daily_summary or off"
    )
    change.add_argument("--time-zone", metavar="ZONE", help="an IANA name, or default")
    change.add_argument("--quiet-hours", metavar="HH:MM-HH:MM", help="or default")
    change.add_argument("--summary-hour", metavar="0-23", help="or default")
    for one in chosen_commands.choices.values():
        one.add_argument("--app")
    chosen.set_defaults(func=_preferences)

    # The first command's spelling, kept: ``send goods_visit`` with its old flags.
    send = commands.add_parser(
        "send-goods-visit", help="the same as `send goods_visit` (older flags: --owner, --visitor)"
    )
    send.add_argument("--owner", dest="owner_id", required=True)
    send.add_argument("--visitor", dest="visitor_id", required=True)
    send.add_argument("--goods-id", dest="goods_id", required=True)
    send.add_argument("--goods-name", dest="goods_name", required=True)
    send.add_argument("--visitor-name", dest="visitor_name")
    send.add_argument("--app", dest="app_name")
    send.set_defaults(func=_send_kind, kind="goods_visit", event_id=None)

    purge = commands.add_parser(
        "purge", help="delete finished deliveries and dead letters past retention, in batches"
    )
    purge.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    purge.add_argument("--older-than", help="replace every retention for this run, e.g. 30d, 12h")
    purge.add_argument("--batch-size", type=int, default=1000, help="rows per transaction")
    purge.add_argument("--max-seconds", type=float, help="stop after this long; rerun resumes")
    purge.set_defaults(func=_purge)
    _send_arguments(commands)
    stats = commands.add_parser(
        "stats", help="outcomes by app, platform and Xiaomi code; outbox backlog; dead letters"
    )
    stats.add_argument("--since", default="1h", help="window: 90s, 15m, 1h, 7d (default 1h)")
    stats.set_defaults(func=_stats)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as error:  # a clear one-line message instead of a traceback for bad input
        from pushworker.conf import SettingsError
        from pushworker.events import InvalidEventError

        if isinstance(error, InvalidEventError | SettingsError):
            print(f"pushworker: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
