"""One line, not a crash dump, when a distributed runtime ends a worker.

When a peer dies, stops answering or never joins, JAX's coordination service aborts the surviving
processes (SIGABRT, from a C++ thread: no Python code runs, so zoo cannot say anything from inside).
A worker of a multi-worker run therefore trains in a child process: this light parent (no TensorFlow,
no JAX) forwards Ctrl-C and SIGTERM to it once, and if the child is ended by a signal, prints one
``zoo: error:`` line saying what happened. Errors the child reports itself pass through unchanged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from zoo.distributed.distribution import Cluster

CHILD_ENV = "ZOO_DISTRIBUTED_CHILD"  # set in the child, so it trains instead of supervising again

WHY = {
    signal.SIGABRT: "the distributed runtime stopped this worker: another worker died, stopped answering or "
                    "never joined within the timeout",
    signal.SIGKILL: "it was killed from outside (out of memory, or by the scheduler)",
    signal.SIGSEGV: "it crashed",
}


def is_child(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is the supervised worker (so it must train, not supervise)."""
    return bool((os.environ if environ is None else environ).get(CHILD_ENV))


def supervise(argv: Sequence[str], cluster: Cluster, what: str, *, env: Mapping[str, str] | None = None) -> int:
    """Run ``argv`` (the same command) as the worker, and return its exit code; 1 with one line if a signal ended it.

    The child runs in a process group of its own, so Ctrl-C in a terminal reaches it once, through
    here, and zoo's handler stops training cleanly; on Linux it also dies if this parent is killed.
    """
    child = subprocess.Popen(list(argv), env={**(os.environ if env is None else env), CHILD_ENV: "1"},
                             process_group=0, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    with _forwarding(child):
        code = child.wait()
    if code >= 0:
        return code
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    why = WHY.get(-code, "a signal ended it")
    print(f"zoo: error: {what}: {cluster.describe()}: training ended by {name}: {why}; no half-written export "
          "was left, and the output folder holds either the previous export or this run's whole one",
          file=sys.stderr)
    return 1


class _forwarding:
    """While the child runs, SIGINT and SIGTERM sent here go to it (main thread only; elsewhere, nothing)."""

    def __init__(self, child: subprocess.Popen):
        self.child, self.previous = child, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._forward) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _forward(self, signum, frame):
        if self.child.poll() is None:
            self.child.send_signal(signum)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM if the supervising parent dies."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
