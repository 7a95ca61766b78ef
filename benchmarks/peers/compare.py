"""zoo's training against plain scripts of the same network: a plain PyTorch script and a plain Keras script.

``compare(entry)`` starts three processes (``benchmarks.peers.worker``): zoo's training path under the
backend ``zoo run`` picks by default (``zoo.backend_choice``, ``auto``), a plain Keras script under that
same backend, and the hand-written PyTorch script. It alternates their rounds, so drift in the
machine's speed falls on every side alike, and compares each side's fastest round, as
``zoo.bench.overhead`` does: on a shared machine other work only ever adds time. Each side's peak
resident memory is its whole process's (device memory too, on a GPU).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from zoo.backend_choice import Choice

SIDES = ("zoo", "torch", "keras")  # the order of each round
ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 600  # a side's start: imports, data, model, one warm-up round
ROUND_TIMEOUT_S = 600


class PeerError(RuntimeError):
    """A side failed or hung; the message names it and says why."""


@dataclass
class Side:
    """A running worker and what it has said."""

    name: str
    process: subprocess.Popen
    ready: dict = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)
    end: dict = field(default_factory=dict)

    def ask(self, line: str, timeout: float) -> dict:
        """Send ``line`` (None: just read) and read the side's next record."""
        if line:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        return self.read(timeout)

    def read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise PeerError(f"the {self.name} side said nothing for {timeout:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            raise PeerError(f"the {self.name} side exited (code {self.process.wait()}): {self._stderr_tail()}")
        record = json.loads(line)
        if "error" in record:
            raise PeerError(f"the {self.name} side failed: {record['error']}")
        return record

    def _stderr_tail(self) -> str:
        lines = [line for line in (self.process.stderr.read() or "").splitlines() if line.strip()]
        return lines[-1] if lines else "no message"


def zoo_backend(entry: str, device: str, requested: str = "auto") -> Choice:
    """The backend and precision zoo's side trains under and why: ``zoo run``'s default choice for a user who set
    no KERAS_BACKEND (``auto``), or the backend ``requested``."""
    from zoo.backend_choice import choose

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return choose(entry, requested, device, env=env)


def _start(side: str, entry: str, device: str, steps: int, backend: str, data_dir: str | None,
           precision: str = "float32") -> Side:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    command = [sys.executable, "-m", "benchmarks.peers.worker", "--side", side, "--entry", entry, "--device", device,
               "--steps", str(steps), *(["--data-dir", data_dir] if data_dir else []),
               # The plain scripts compute in float32, as the tutorials do; only zoo's side takes zoo's choice.
               *(["--precision", precision] if side == "zoo" else [])]
    return Side(side, subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=env, cwd=ROOT))


def compare(entry: str, device: str = "cpu", *, steps: int, rounds: int | None = None, seconds: float = 2.0,
            backend: str = "auto", data_dir: str | None = None) -> dict:
    """Train ``entry`` in the three sides, rounds alternating; the record of the comparison.

    ``rounds`` None: one untimed warm-up round each, then as many rounds as fit ``seconds`` of zoo's
    side (at least 7); else exactly ``rounds`` (the untimed smoke run gives 1).
    """
    choice = zoo_backend(entry, device, backend)
    sides = {name: _start(name, entry, device, steps, choice.backend, data_dir, choice.precision) for name in SIDES}
    try:
        for side in sides.values():
            side.ready = side.read(READY_TIMEOUT_S)
        if rounds is None:
            warm = {name: side.ask("round", ROUND_TIMEOUT_S) for name, side in sides.items()}
            rounds = max(7, int(seconds / max(warm["zoo"]["seconds"], 1e-6)))
        for _ in range(rounds):
            for side in sides.values():
                side.rounds.append(side.ask("round", ROUND_TIMEOUT_S))
        for side in sides.values():
            side.end = side.ask("done", ROUND_TIMEOUT_S)
    finally:
        for side in sides.values():
            _stop(side.process)
    return record(entry, device, choice, sides["zoo"].ready["batch_size"], steps, sides)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            process.stdin.close()
            process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()


def _rates(side: Side, batch: int, steps: int) -> tuple[float, float]:
    """(steady samples/s, whole-round samples/s) of the side's fastest rounds."""
    steady = max(r["steady_steps"] * batch / r["steady_seconds"] for r in side.rounds)
    return steady, steps * batch / min(r["seconds"] for r in side.rounds)


def record(entry: str, device: str, choice: Choice, batch: int, steps: int, sides: dict[str, Side]) -> dict:
    """The comparison's figures: each side's rates and peak memory, and zoo's ratios to the plain scripts
    (speed: > 1 means zoo is faster; memory: > 1 means zoo used more)."""
    found = {"model": entry, "mode": "peers", "device": device, "backend": choice.backend,
             "precision": choice.precision, "backend_choice": choice.why,
             "batch_size": batch, "steps": steps, "rounds": len(sides["zoo"].rounds),
             "param_count": sides["zoo"].ready["param_count"],
             "steps_per_execution": sides["zoo"].ready.get("steps_per_execution"),
             "torch_version": sides["torch"].ready.get("torch_version"),
             "torch_threads": sides["torch"].ready.get("torch_threads")}
    for name, side in sides.items():
        steady, whole = _rates(side, batch, steps)
        found.update({f"{name}_train_samples_per_sec": steady, f"{name}_round_samples_per_sec": whole,
                      f"{name}_peak_rss_bytes": side.end["peak_rss_bytes"],
                      f"{name}_baseline_rss_bytes": side.ready["baseline_rss_bytes"],
                      f"{name}_gpu_peak_bytes": side.end.get("gpu_peak_bytes")})
    for peer in ("torch", "keras"):
        found[f"zoo_over_{peer}"] = found["zoo_train_samples_per_sec"] / found[f"{peer}_train_samples_per_sec"]
        found[f"zoo_over_{peer}_round"] = found["zoo_round_samples_per_sec"] / found[f"{peer}_round_samples_per_sec"]
        found[f"memory_over_{peer}"] = found["zoo_peak_rss_bytes"] / found[f"{peer}_peak_rss_bytes"]
    found["samples_per_sec"] = found["zoo_train_samples_per_sec"]  # what zoo bench compare gates
    return found
