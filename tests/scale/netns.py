"""Worker "hosts" in network namespaces on one bridge; made and removed by the scale tests.

Names carry a prefix and the creating process's pid (``pwsc<pid hex>...``, within Linux's 15
characters), so a later run removes what a killed run left behind and never what a live run owns.
Addresses are private (10.231.X.0/24, X picked free); traffic stays between the namespaces and
the bridge, whose address is where the test's Redis, emulator and PostgreSQL proxy listen.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess

PREFIX = "pwsc"
_NAME = re.compile(rf"{PREFIX}([0-9a-f]{{6}})[bnhp]\d*")


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    if not shutil.which("ip"):
        return "needs iproute2's `ip` command"
    probe = f"{PREFIX}probe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` is not available: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_inside(namespace: str) -> None:
    """SIGKILL what still runs in a namespace this test made (by pid, as `ip netns pids` lists)."""
    for pid in _ip("netns", "pids", namespace, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def remove_stale() -> None:
    """Remove namespaces and links of this prefix whose creating process is gone."""
    names = _ip("netns", "list", check=False).stdout.split()
    names += [
        line.split(":")[1].strip().split("@")[0]
        for line in _ip("-o", "link", "show", check=False).stdout.splitlines()
        if ":" in line
    ]
    for name in names:
        match = _NAME.fullmatch(name)
        if match and not _alive(int(match.group(1), 16)):
            kill_inside(name)
            _ip("netns", "del", name, check=False)
            _ip("link", "del", name, check=False)


class Network:
    """A bridge with the gateway address and ``count`` namespaces, each on its own veth pair."""

    def __init__(self, count: int) -> None:
        tag = f"{os.getpid():06x}"[-6:]
        self.bridge = f"{PREFIX}{tag}b"
        self.namespaces = [f"{PREFIX}{tag}n{i}" for i in range(count)]
        used = _ip("-4", "-o", "addr", "show", check=False).stdout
        free = [x for x in range(1, 255) if f"10.231.{x}." not in used]
        self.subnet = random.choice(free)
        self.gateway = f"10.231.{self.subnet}.1"

    def address(self, index: int) -> str:
        return f"10.231.{self.subnet}.{10 + index}"

    def create(self) -> Network:
        tag = self.bridge[len(PREFIX) : len(PREFIX) + 6]
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, namespace in enumerate(self.namespaces):
            host_end, ns_end = f"{PREFIX}{tag}h{index}", f"{PREFIX}{tag}p{index}"
            _ip("netns", "add", namespace)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", namespace)
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("-n", namespace, "addr", "add", f"{self.address(index)}/24", "dev", ns_end)
            _ip("-n", namespace, "link", "set", ns_end, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        return self

    def destroy(self) -> None:
        """Remove everything this network made; each step runs even when another fails."""
        tag = self.bridge[len(PREFIX) : len(PREFIX) + 6]
        for index, namespace in enumerate(self.namespaces):
            with contextlib.suppress(subprocess.SubprocessError):
                kill_inside(namespace)
                _ip("link", "del", f"{PREFIX}{tag}h{index}", check=False)  # and its peer
                _ip("netns", "del", namespace, check=False)
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("link", "del", self.bridge, check=False)

    def leftovers(self) -> list[str]:
        """Names of this network still present (the tests assert none after destroy)."""
        present = _ip("netns", "list", check=False).stdout + _ip("-o", "link", check=False).stdout
        tag = self.bridge[: len(PREFIX) + 6]
        return sorted(set(re.findall(rf"{tag}[bnhp]\d*", present)))

    def command(self, index: int, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[index], *args]
