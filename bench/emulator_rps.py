"""Requests per second of the Xiaomi emulator over keep-alive HTTP, against a bare aiohttp baseline.

Usage: python bench/emulator_rps.py [--requests 20000] [--seconds 10] [--concurrency 16]
                                     [--processes 1] [--wrk]

Both servers run in their own subprocess; this process (plus --processes - 1 helpers) drives
them with aiohttp keep-alive connections, a bounded number of requests or seconds each. The
emulator is started through its real command line (`python -m pushworker.emulator`) with the
same MIPUSH_* variables a worker reads, and every request is a realistic Android alias send
that passes auth and validation and is recorded. The baseline is a trivial aiohttp handler
that answers a constant JSON body, served the same way, so ratio = emulator / bare aiohttp.
With --wrk (and `wrk` on PATH) both are measured again with wrk, a faster C client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-android-secret"  # a throwaway value, only ever sent to loopback
PACKAGE = "com.example.bench"
PATH = "/v3/message/alias"
FORM = urlencode(
    {
        "restricted_package_name": PACKAGE,
        "title": "有人访问了你的店铺",
        "description": "今天有 3 位新访客，点击查看详情",
        "pass_through": "0",
        "notify_id": "7",
        "extra.notify_effect": "2",
        "extra.intent_uri": "shop://visits/42",
        "extra.channel_id": "visits",
        "alias": "user-42",
    }
)
HEADERS = {
    "Authorization": f"key={SECRET}",
    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
}
HELLO_BODY = b'{"result":"ok","code":0,"description":"ok"}'


def serve_hello() -> None:
    """The baseline: the least an aiohttp server can do for the same request."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=HELLO_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, hello)
    port = int(os.environ["BENCH_HELLO_PORT"])
    print(f"production_url=http://127.0.0.1:{port}", flush=True)  # the caller polls the port
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@contextlib.contextmanager
def running(kind: str) -> Iterator[str]:
    """Run a server subprocess, yield the URL it prints, stop it afterwards."""
    env = {
        **os.environ,
        "MIPUSH_ANDROID_APP_SECRET": SECRET,
        "MIPUSH_ANDROID_PACKAGE_NAME": PACKAGE,
        "PYTHONPATH": str(ROOT),
        "PUSHWORKER_LOG_FORMAT": "text",  # the first line on stdout is production_url=…
    }
    if kind == "emulator":
        command = [sys.executable, "-m", "pushworker.emulator"]
        command += ["--port", "0", "--sandbox-port", "0"]
    else:
        env["BENCH_HELLO_PORT"] = str(_pick_port())
        command = [sys.executable, __file__, "--serve-hello"]
    # stderr goes to a file, not a pipe: nobody reads it while the benchmark runs.
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if not line.startswith("production_url="):
                log.seek(0)
                raise SystemExit(f"{kind} did not start: {line!r}\n{log.read()}")
            url = line.split("=", 1)[1]
            _wait_until_listening(url)
            yield url
        finally:
            process.terminate()
            process.wait(10)


def _pick_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(url: str) -> None:
    import socket

    host, port = url.rsplit("/", 1)[1].split(":")
    for _ in range(100):
        try:
            socket.create_connection((host, int(port)), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {url}")


async def _drive(url: str, requests: int, seconds: float, concurrency: int) -> list[float]:
    """Send up to `requests` sends (or for `seconds`) over `concurrency` keep-alive connections."""
    import aiohttp

    latencies: list[float] = []
    remaining = requests
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(url, connector=connector, headers=HEADERS) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                started = time.perf_counter()
                async with session.post(PATH, data=FORM) as response:
                    body = await response.read()
                if response.status != 200 or b'"code":0' not in body:
                    raise RuntimeError(f"unexpected answer {response.status}: {body[:200]!r}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _drive_process(args: tuple[str, int, float, int]) -> list[float]:
    return asyncio.run(_drive(*args))


def measure(url: str, options: argparse.Namespace) -> dict[str, float]:
    """Warm up, then drive from `processes` processes at once; req/s over the slowest one."""
    asyncio.run(_drive(url, 500, 5, options.concurrency))
    share = options.requests // options.processes
    job = (url, share, options.seconds, options.concurrency)
    started = time.perf_counter()
    if options.processes == 1:
        batches = [_drive_process(job)]
    else:
        with multiprocessing.Pool(options.processes) as pool:
            batches = pool.map(_drive_process, [job] * options.processes)
    elapsed = time.perf_counter() - started
    latencies = sorted(x for batch in batches for x in batch)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def measure_wrk(url: str, seconds: float, concurrency: int) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in HEADERS.items())
    script = f'wrk.method = "POST"\nwrk.body = "{FORM}"\n{headers}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        duration = f"{max(1, int(seconds))}s"
        output = subprocess.run(
            [wrk, "-t2", f"-c{concurrency}", f"-d{duration}", "-s", handle.name, url + PATH],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split(":")[1])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="sends per server (bound)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per server (bound)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections per process")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--wrk", action="store_true", help="also measure with wrk if installed")
    parser.add_argument("--serve-hello", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_hello:
        serve_hello()
        return 0
    results = {}
    for kind in ("emulator", "aiohttp-hello"):
        with running(kind) as url:
            results[kind] = measure(url, options)
            if options.wrk:
                wrk_rps = measure_wrk(url, options.seconds, options.concurrency)
                results[kind]["wrk_rps"] = wrk_rps or 0.0
    print(f"cpus={os.cpu_count()} concurrency={options.concurrency} processes={options.processes}")
    for kind, result in results.items():
        line = (
            f"{kind:14s} {result['requests']:6.0f} requests  {result['rps']:8.0f} req/s  "
            f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms"
        )
        if "wrk_rps" in result:
            line += f"  wrk {result['wrk_rps']:.0f} req/s"
        print(line)
    ratio = results["emulator"]["rps"] / results["aiohttp-hello"]["rps"]
    print(f"ratio emulator / bare aiohttp = {ratio:.2f}")
    if options.wrk and results["aiohttp-hello"].get("wrk_rps"):
        wrk_ratio = results["emulator"]["wrk_rps"] / results["aiohttp-hello"]["wrk_rps"]
        print(f"wrk ratio emulator / bare aiohttp = {wrk_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
