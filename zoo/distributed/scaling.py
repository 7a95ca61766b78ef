"""Data-parallel scaling: an entry's steady-state training samples/s on 1 replica against N, and the efficiency.

A process's devices are fixed when its runtime starts (``zoo.distributed.cpu_devices``), so each replica count
trains in a fresh subprocess, ``python -m zoo.distributed.scaling_run`` (see ``child_command``), which prints
one JSON line; ``compare`` runs the two and turns their lines into one record, ``table`` prints records.

N is the number of GPUs where the backend sees at least two (``device`` ``"gpu"``); otherwise the CPU split
into 2 logical devices (``"cpu-logical"``), which share the same cores: there the efficiency measures what
data parallelism costs, not a speedup. Both sides train the entry's batch as the global batch, split across
the replicas, as ``zoo run --distribute data-parallel`` does.

Light: neither TensorFlow nor JAX is imported here, so ``zoo bench`` and the benchmark suite can use it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from zoo.distributed.distribution import CPU_DEVICES_ENV
from zoo.errors import ZooError
from zoo.table import format_table

CHILD_MODULE = "zoo.distributed.scaling_run"
DEVICES = ("cpu-logical", "gpu")
CPU_REPLICAS = 2  # logical CPU devices when there are not two GPUs
ENGINE_BACKENDS = ("tensorflow", "jax")
NO_ENGINE = ("zoo has no data-parallel engine for the {backend} backend (only tf.distribute under tensorflow and "
             "keras.distribution under jax); run with KERAS_BACKEND=tensorflow or jax")
CPU_NOTE = ("logical CPU devices share the same cores, so the N-replica run has no more compute than the "
            "1-replica run: the efficiency here measures the data-parallel overhead, not a speedup")
SMOKE_NOTE = "smoke run: both sides ran at the same time on the same machine, so their rates do not compare"
GPU_NOTE = "one replica per GPU; efficiency = N-replica samples/s / (N x 1-replica samples/s)"
STEPS_NOTE = ("the sides ran different numbers of training steps per backend call (the steps/call column; "
              "zoo.distributed.train.steps_per_call_limit), which weighs on entries whose steps are light")
TABLE_HEADERS = ("model", "backend", "device", "replicas", "1-replica/s", "N-replica/s", "speedup", "efficiency",
                 "steps/call")
# --seconds planning: at most this many timed rounds a side, however short the rounds.
MAX_ROUNDS = 1000


class ScalingError(ZooError):
    """A scaling measurement was asked for wrongly, or one of its runs failed."""


@dataclass(frozen=True)
class Options:
    """One side of a comparison, as ``python -m zoo.distributed.scaling_run`` takes it."""

    model: str
    replicas: int
    device: str = "cpu-logical"  # "cpu-logical" (the CPU split into `replicas` devices) or "gpu"
    steps: int | None = None  # optimizer steps per timed round; None: the entry's default (scaling_run)
    seconds: float = 2.0  # keep timing rounds until their steady states add up to this; 0: no warm-up round
    min_rounds: int = 3
    data_dir: str | None = None
    json: bool = False


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``python -m zoo.distributed.scaling_run``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {CHILD_MODULE}",
        description="Train one zoo entry data-parallel on REPLICAS devices in this process and print its "
                    "steady-state training samples/s (the CPU is split into logical devices first).")
    parser.add_argument("--model", required=True, help="the entry to train, e.g. mnist_mlp")
    parser.add_argument("--replicas", required=True, type=int, help="data-parallel replicas (devices)")
    parser.add_argument("--device", choices=DEVICES, default="cpu-logical",
                        help="cpu-logical: split the CPU into REPLICAS logical devices; gpu: the first REPLICAS GPUs")
    parser.add_argument("--steps", type=int, help="optimizer steps per timed round (default: 192 for light steps, "
                                                  "20 for steps of 1 GFLOP or more)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="time rounds until their steady states add up to this many seconds, after one "
                             "warm-up round (0: no warm-up, just --min-rounds rounds); default 2")
    parser.add_argument("--min-rounds", type=int, default=3, help="timed rounds at least (default 3)")
    parser.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR; random "
                                           "data of the entry's shape where the dataset is not available)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a sentence")
    return parser


def parse_args(argv: Sequence[str]) -> Options:
    """``argv`` as Options; ScalingError, naming the argument and the fix, for values out of range."""
    args = build_parser().parse_args(list(argv))
    options = Options(args.model, args.replicas, args.device, args.steps, args.seconds, args.min_rounds,
                      args.data_dir, args.json)
    check(options)
    return options


def check(options: Options) -> None:
    """ScalingError for values no measurement can run with."""
    if options.replicas < 1:
        raise ScalingError(f"--replicas {options.replicas}: give the number of data-parallel replicas, at least 1")
    if options.steps is not None and options.steps < 1:
        raise ScalingError(f"--steps {options.steps}: give the optimizer steps per round, at least 1")
    if not options.seconds >= 0:  # also refuses NaN
        raise ScalingError(f"--seconds {options.seconds}: give the seconds to time, 0 or more")
    if not 1 <= options.min_rounds <= MAX_ROUNDS:
        raise ScalingError(f"--min-rounds {options.min_rounds}: give a number of rounds from 1 to {MAX_ROUNDS}")


def child_command(options: Options, python: str = sys.executable) -> list[str]:
    """The command that measures one side in a fresh process."""
    command = [python, "-m", CHILD_MODULE, "--model", options.model, "--replicas", str(options.replicas),
               "--device", options.device, "--seconds", repr(options.seconds),
               "--min-rounds", str(options.min_rounds), "--json"]
    command += ["--steps", str(options.steps)] if options.steps is not None else []
    return command + (["--data-dir", options.data_dir] if options.data_dir else [])


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a side's process: ``environ`` without what would fix its device count otherwise
    (``ZOO_CPU_DEVICES``, XLA's forced host device count), since the side splits the CPU itself; and, unless
    set, GPU memory taken as needed, since the process that starts the sides (a benchmark session) may
    already hold much of it (JAX preallocates 75% of each GPU, TensorFlow nearly all)."""
    env = {k: v for k, v in environ.items() if k != CPU_DEVICES_ENV}
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    if flags:
        env["XLA_FLAGS"] = " ".join(flags)
    else:
        env.pop("XLA_FLAGS", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def choose_target(gpus: int, devices: Sequence[str] = ("cpu", "gpu")) -> tuple[str, int]:
    """(device, N) for a comparison: every GPU when there are at least two and ``devices`` allows "gpu",
    else ``CPU_REPLICAS`` logical CPU devices when it allows "cpu"; ScalingError when neither."""
    if "gpu" in devices and gpus >= 2:
        return "gpu", gpus
    if "cpu" in devices:
        return "cpu-logical", CPU_REPLICAS
    raise ScalingError(f"scaling on GPUs needs at least 2 visible, and {gpus} are; allow the cpu device to "
                       "measure on logical CPU devices")


def read_child_output(stdout: str) -> dict:
    """The JSON line a side printed last (libraries may print other lines before it)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ScalingError("the run printed no JSON line")


def run_sides(sides: Sequence[Options], *, concurrent: bool = False, timeout: float = 600,
              environ: Mapping[str, str] | None = None) -> list[dict]:
    """Each side measured in a fresh process, one after the other (or all at once with ``concurrent``, for
    smoke runs: they then share the machine, so their rates do not compare); their JSON records, in order.
    ScalingError, with the process's last error line, when one fails; the others are then stopped."""
    env = child_env(os.environ if environ is None else environ)
    if not concurrent:
        return [_finish(side, _start(side, env), timeout) for side in sides]
    started = [(side, _start(side, env)) for side in sides]
    try:
        return [_finish(side, child, timeout) for side, child in started]
    finally:
        for _, child in started:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
            child.errors.close()


@dataclass
class _Child:
    """A side's running process and the file its stderr goes to."""

    process: subprocess.Popen
    errors: IO[str]


def _start(side: Options, env: Mapping[str, str]) -> _Child:
    # stderr goes to a file, not a pipe: with its stderr on a pipe, a JAX side on 2 logical CPU devices
    # deadlocked in XLA's all-reduce rendezvous and aborted (mnist_mlp, 2026-11-26, reproduced 4 times out of 4;
    # never with a file or /dev/null).
    errors = tempfile.TemporaryFile(mode="w+t")
    process = subprocess.Popen(child_command(side), stdout=subprocess.PIPE, stderr=errors, text=True, env=dict(env))
    return _Child(process, errors)


def _finish(side: Options, child: _Child, timeout: float) -> dict:
    what = f"{side.model}: the {side.replicas}-replica run"
    process = child.process
    with child.errors:
        try:
            stdout, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.communicate()
            raise ScalingError(f"{what} did not finish within {timeout:g} s; give it fewer --steps or --seconds") from exc
        child.errors.seek(0)
        stderr = child.errors.read()
    if process.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip() and not line.lstrip().startswith("@")]
        errors = [line.removeprefix("zoo: error: ") for line in lines if line.startswith("zoo: error:")]
        why = (errors or lines or [f"exit code {process.returncode}"])[-1]
        raise ScalingError(f"{what} failed: {why}")
    return read_child_output(stdout)


def compare(model: str, replicas: int, device: str, *, steps: int | None = None, seconds: float = 2.0,
            min_rounds: int = 3, data_dir: str | None = None, concurrent: bool = False,
            timeout: float = 600) -> dict:
    """``model`` trained on 1 replica, then on ``replicas``, each in its own process: the scaling record.
    ``concurrent`` runs the two at once (smoke runs only: the rates then do not compare)."""
    sides = [Options(model, n, device, steps, seconds, min_rounds, data_dir) for n in (1, replicas)]
    for side in sides:
        check(side)
    one, many = run_sides(sides, concurrent=concurrent, timeout=timeout)
    record = scaling_record(one, many, replicas)
    if concurrent:
        record.update(sides_concurrent=True, notes=[SMOKE_NOTE, *record["notes"]])
    return record


def efficiency(rate_1: float, rate_n: float, replicas: int) -> float:
    """Scaling efficiency: N replicas' samples/s over N times one replica's (1.0: perfect linear scaling)."""
    if replicas < 1 or rate_1 <= 0:
        raise ScalingError(f"efficiency needs a positive 1-replica rate and replicas >= 1, not {rate_1} and {replicas}")
    return rate_n / (replicas * rate_1)


def scaling_record(one: dict, many: dict, replicas: int) -> dict:
    """The comparison of two sides' records (``one`` ran 1 replica, ``many`` was asked for ``replicas``)."""
    rate_1, rate_n = one["samples_per_sec"], many["samples_per_sec"]
    return {
        "mode": "scaling", "model": many["model"], "backend": many["backend"], "device": many["device"],
        "device_name": many["device_name"], "engine": many["engine"], "replicas": replicas,
        "replicas_in_sync_1": one["replicas"], "replicas_in_sync_n": many["replicas"],
        "weight_copies_1": one["weight_copies"], "weight_copies_n": many["weight_copies"],
        "local_devices_n": many["local_devices"],
        "samples_per_sec_1": rate_1, "samples_per_sec_n": rate_n, "speedup": rate_n / rate_1 if rate_1 else None,
        "median_samples_per_sec_1": one["median_samples_per_sec"],
        "median_samples_per_sec_n": many["median_samples_per_sec"],
        "efficiency": efficiency(rate_1, rate_n, replicas) if rate_1 > 0 else None,
        "global_batch": many["global_batch"], "per_replica_batch": many["per_replica_batch"],
        "per_replica_batch_1": one["per_replica_batch"],
        "sides_concurrent": False, "steps_per_round": many["steps_per_round"],
        "rounds_1": one["rounds"], "rounds_n": many["rounds"],
        "steady_seconds_1": one["steady_seconds"], "steady_seconds_n": many["steady_seconds"],
        "steps_per_execution_1": one["steps_per_execution"], "steps_per_execution_n": many["steps_per_execution"],
        "notes": [CPU_NOTE if many["device"] == "cpu-logical" else GPU_NOTE]
        + ([STEPS_NOTE] if one["steps_per_execution"] != many["steps_per_execution"] else []),
    }


def table(records: Sequence[dict]) -> str:
    """The scaling records as a terminal table, one row per entry and backend."""
    rows = [[r["model"], r["backend"], r["device"], r["replicas"], f"{r['samples_per_sec_1']:,.0f}",
             f"{r['samples_per_sec_n']:,.0f}", _times(r["speedup"]), _percent(r["efficiency"]),
             f"{r['steps_per_execution_1']}/{r['steps_per_execution_n']}"]
            for r in sorted(records, key=lambda r: (r["model"], r["backend"]))]
    return format_table(TABLE_HEADERS, rows)


def notes(records: Sequence[dict]) -> list[str]:
    """The notes that go under the table, each once, in the order first met."""
    return list(dict.fromkeys(note for r in records for note in r["notes"]))


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
