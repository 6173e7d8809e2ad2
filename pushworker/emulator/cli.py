"""Command line: serve the emulator until SIGTERM or SIGINT (`pushworker emulator`, `-m`)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from . import logs
from .apps import EmulatorApp
from .faults import ENVIRONMENTS, KNOWN, Faults
from .logs import log
from .server import Emulator

DEFAULT_PORT = 8765
DEFAULT_SANDBOX_PORT = 8766


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags. Apps come only from MIPUSH_* environment variables, never
    flags, so secrets stay out of `ps` output and shell history."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="production port; 0 picks one"
    )
    parser.add_argument(
        "--sandbox-port", type=_port, default=DEFAULT_SANDBOX_PORT, help="sandbox port; 0 picks one"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay added to every API request"
    )
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="probability (0..1) a send gets --fail-with"
    )
    parser.add_argument("--fail-with", default="http500", help=f"fault for --fail-rate: {KNOWN}")
    parser.add_argument(
        "--script", default="", help="comma list of faults consumed one per send; 'ok' passes one"
    )
    parser.add_argument(
        "--fault-environment", choices=ENVIRONMENTS, help="limit faults to one environment"
    )
    parser.add_argument("--fault-target", help="limit faults to sends naming this target")
    parser.add_argument(
        "--known-targets",
        help="comma list, or @FILE with one per line, of existing targets; default: all exist",
    )


def _port(text: str) -> int:
    """A TCP port for argparse: a clear usage error instead of bind()'s OverflowError."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0..65535 (0 picks one)")
    return port


def run(args: argparse.Namespace, apps: list[EmulatorApp] | None = None) -> int:
    """Start the emulator, print both URLs (a harness waits for them), serve until a signal.

    ``apps`` defaults to the MIPUSH_* variables; ``manage.py pushworker_emulator`` passes the
    host project's apps instead. Every line is in the format ``PUSHWORKER_LOG_FORMAT`` chooses
    (:mod:`pushworker.emulator.logs`)."""
    logs.setup()
    try:
        faults = Faults(
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            fail_with=args.fail_with,
            script=tuple(k.strip() for k in args.script.split(",") if k.strip()),
            environment=args.fault_environment,
            target=args.fault_target,
        )
        known = _known_targets(args.known_targets)
        emulator = Emulator(
            apps=apps,
            known_targets=known,
            faults=faults,
            host=args.host,
            port=args.port,
            sandbox_port=args.sandbox_port,
        ).start()
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        for app in emulator.apps:
            log.info("serving %s", app.describe())
        if known is not None:
            log.info("%d known targets", len(known))
        logs.announce(emulator.production_url, emulator.sandbox_url)
        while not stop.wait(1.0):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0


def _known_targets(spec: str | None) -> list[str] | None:
    if spec is None:
        return None
    text = Path(spec[1:]).read_text(encoding="utf-8") if spec.startswith("@") else spec
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pushworker.emulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
