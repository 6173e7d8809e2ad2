"""A Redis master, one replica and three sentinels on free loopback ports, owned by one test.

Sentinel settings are the fast ones (master down after 1 s), so a killed master is replaced
within seconds. Persistence is off: what the replica had not received when the master died is
gone, as in production with asynchronous replication.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path

import redis

from tests.support.redis_server import free_port, redis_binary
from tests.support.stack import wait_for

MASTER_NAME = "pushworker"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class SentinelCluster:
    def __init__(self, workdir: Path, password: str) -> None:
        self.workdir = workdir
        self.password = password
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: list[subprocess.Popen] = []
        self.master: subprocess.Popen | None = None
        self.replica: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The broker URL: every sentinel, the master's password (kombu reads the first one's)."""
        return ";".join(
            f"sentinel://:{self.password}@127.0.0.1:{port}/0" for port in self.sentinel_ports
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as it
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self.processes.append(process)
        return process

    def _server(self, name: str, port: int, *extra: str) -> subprocess.Popen:
        folder = self.workdir / name
        folder.mkdir(exist_ok=True)
        return self._spawn(
            name,
            [
                redis_binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(folder),
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
                "--masterauth",
                self.password,
                *extra,
            ],
        )

    def start(self) -> SentinelCluster:
        self.master = self._server("master", self.master_port)
        self.replica = self._server(
            "replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port)
        )
        for n, port in enumerate(self.sentinel_ports):
            config = self.workdir / f"sentinel-{n}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel auth-pass {MASTER_NAME} {self.password}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            )
            self._spawn(f"sentinel-{n}", [redis_binary(), str(config), "--sentinel"])
        wait_for(self.ready, 60, interval=0.2, message="replica in sync, sentinels know all")
        return self

    def server(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=2)

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, decode_responses=True)

    def ready(self) -> bool:
        """The replica is in sync and every sentinel knows the replica and both other sentinels."""
        try:
            if self.server(self.replica_port).info("replication").get("master_link_status") != "up":
                return False
            for port in self.sentinel_ports:
                client = self.sentinel(port)
                if len(client.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)) != 2:
                    return False
                if len(client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)) != 1:
                    return False
        except redis.RedisError:
            return False
        return True

    def master_port_now(self) -> int | None:
        """The master's port as a majority of the sentinels tell it (None while they disagree)."""
        answers = []
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                host, master = self.sentinel(port).execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME
                )
                answers.append(int(master))
        for candidate in set(answers):
            if answers.count(candidate) >= 2:
                return candidate
        return None

    def offset(self, port: int) -> int:
        return int(self.server(port).info("replication")["master_repl_offset"])

    def hold_replica(self) -> None:
        """SIGSTOP the replica: it stops reading what the master sends it (SIGCONT resumes)."""
        assert self.replica is not None
        self.replica.send_signal(signal.SIGSTOP)

    def release_replica(self) -> None:
        assert self.replica is not None
        self.replica.send_signal(signal.SIGCONT)

    def flood(self, megabytes: int = 48) -> int:
        """Fill the socket buffers towards a held replica (db 15, beside the broker's db 0).

        The kernel keeps a few MB in flight for a process that does not read; past those, the
        master keeps the rest in its own memory, and a master killed then takes it with it.
        Returns the master's replication offset after the flood: every write after it is lost
        with the master while the replica is held.
        """
        client = redis.Redis(port=self.master_port, password=self.password, db=15)
        chunk = b"x" * (1 << 20)
        for n in range(megabytes):
            client.set(f"flood:{n}", chunk)
        return self.offset(self.master_port)

    def promoted_offset(self) -> int:
        """How far the promoted replica had replicated the old master when it took over."""
        return int(self.server(self.replica_port).info("replication")["second_repl_offset"]) - 1

    def kill_master(self) -> None:
        """SIGKILL: whatever the replica had not received yet is gone."""
        assert self.master is not None
        self.master.send_signal(signal.SIGKILL)
        self.master.wait(timeout=10)

    def stop(self) -> None:
        """Every process this cluster started, killed: its data is never needed again."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
