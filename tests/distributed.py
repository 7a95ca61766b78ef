"""Helpers for the distribution tests: free ports, cluster environments, worker processes and their cleanup."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

JOB = Path(__file__).resolve().parent / "distributed_job.py"


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_env(backend: str, index: int, ports: list[int], workers: int = 2) -> dict[str, str]:
    """The environment of worker ``index`` of a localhost cluster, the standard way for ``backend``."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG" and not k.startswith("KERAS_DISTRIBUTION_")}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    if backend == "tensorflow":
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports[:workers]]},
                                       "task": {"type": "worker", "index": index}})
    else:
        env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{ports[0]}",
                   KERAS_DISTRIBUTION_NUM_PROCESSES=str(workers), KERAS_DISTRIBUTION_PROCESS_ID=str(index))
    return env


class Worker:
    """``tests/distributed_job.py`` in a process of its own, its output in files (read with ``out``/``err``)."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path, name: str):
        self.stdout, self.stderr = logs / f"{name}.out", logs / f"{name}.err"
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.process = subprocess.Popen([sys.executable, str(JOB), *args], env=env, stdout=out, stderr=err)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    @property
    def out(self) -> str:
        return self.stdout.read_text()

    @property
    def err(self) -> str:
        return self.stderr.read_text()

    def report(self) -> dict:
        """The JSON line the job printed last."""
        return json.loads([line for line in self.out.splitlines() if line.startswith("{")][-1])

    def zoo_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("zoo: ")]

    def trainer(self) -> int:
        """The process that trains: the supervised child (multi-worker runs), or the job itself."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            children = []
        return int(children[0]) if children else self.process.pid

    def kill(self) -> None:
        """End the job and its trainer, whatever state they are in."""
        for pid in {self.trainer(), self.process.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.1)
