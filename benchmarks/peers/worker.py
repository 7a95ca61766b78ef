"""One side of a peer comparison, in a process of its own: zoo's training path, a plain Keras script or a plain
PyTorch script, training one entry's network round by round when the parent says so.

    python -m benchmarks.peers.worker --side zoo|keras|torch --entry NAME --device cpu|gpu --steps N [--data-dir DIR]

Each side is its own process so that its peak memory is its own (a training process's peak RSS:
the framework, the data, the model and its optimizer), and so that each runs under its own Keras
backend. Every side loads and prepares the entry's data with the same functions (``zoo.bench_data``, NumPy
only), so what their peaks differ by is what each training path adds. The parent
(``benchmarks.peers.compare``) alternates rounds between the sides; an idle side waits on its stdin and uses
no CPU.

Protocol: one JSON object per line on the original stdout (libraries' prints are sent to stderr).
First ``{"ready": ...}``; then for each ``round`` read from stdin one round's times; for ``done`` the
memory figures, and exit. A failure is ``{"error": "..."}`` and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from zoo.memory import gpu_peak_bytes, peak_rss_bytes, rss_bytes
from zoo.precision import FLOAT32, POLICIES


def _zoo_side(args) -> tuple[Callable[[], tuple[int, float]], dict]:
    """zoo's own training path (``zoo.bench``'s ``train`` case: the fit call and callbacks of ``zoo run``)."""
    from zoo import bench, environment

    case = bench.Case(args.entry, "train", args.device, precision=args.precision)
    workload = bench.prepare_workload(case, data_dir=args.data_dir,
                                      steps=args.steps)  # warmed up: one round already ran

    def one_round() -> tuple[int, float]:
        workload.run()
        return workload.steady_steps, workload.steady_seconds[-1]

    return one_round, {"backend": environment.backend(), "batch_size": workload.batch_size,
                       "param_count": workload.param_count, "steps_per_execution": workload.steps_per_execution}


def _keras_side(args, x: np.ndarray, y: np.ndarray) -> tuple[Callable[[], tuple[int, float]], dict]:
    """A plain Keras script: the entry's network compiled as its tutorial says, ``model.fit`` on the arrays."""
    import keras

    from zoo import api
    from zoo.steady_clock import WARM_STEPS, SteadyClock

    spec = api.get_spec(args.entry)
    # Unseeded, as the tutorials' scripts are: keras.utils.set_random_seed would also import TensorFlow under
    # JAX or torch (Keras seeds TensorFlow whenever it is installed), a cost no plain script chooses.
    # A plain script names no device: Keras puts the work on the GPU where there is one, else on the CPU.
    device = "gpu:0" if args.device == "gpu" else None
    with keras.device(device) if device else contextlib.nullcontext():
        model = spec.build()
        model.compile(optimizer=keras.optimizers.get(spec.compile.optimizer), loss=keras.losses.get(spec.compile.loss),
                      metrics=list(spec.compile.metrics))
    clock, batch = SteadyClock(WARM_STEPS), spec.fit.batch_size

    def one_round() -> tuple[int, float]:
        with keras.device(device) if device else contextlib.nullcontext():
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0, callbacks=[clock])
        return clock.steady(len(x) // batch, time.perf_counter())

    one_round()  # warm-up: tracing, compilation, allocation
    return one_round, {"backend": keras.backend.backend(), "batch_size": batch, "param_count": model.count_params()}


def _torch_side(args, x: np.ndarray, y: np.ndarray) -> tuple[Callable[[], tuple[int, float]], dict]:
    """The hand-written PyTorch script (``benchmarks.peers.plain_torch``)."""
    import torch

    from benchmarks.peers.plain_torch import PEERS, Trainer, param_count, tensors
    from zoo import api

    if args.device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("no GPU visible to PyTorch")
    device = torch.device("cuda" if args.device == "gpu" else "cpu")
    torch.manual_seed(0)
    peer = PEERS[args.entry]
    batch = api.get_spec(args.entry).fit.batch_size
    trainer = Trainer(peer, *tensors(peer, x, y, device), batch, device)

    def one_round() -> tuple[int, float]:
        _, steps, seconds = trainer.round()
        return steps, seconds

    one_round()  # warm-up: allocation, the kernels' first calls
    return one_round, {"backend": "torch", "batch_size": batch, "torch_version": torch.__version__,
                       "torch_threads": torch.get_num_threads(),
                       "param_count": param_count(trainer.model)}


def _round_rows(args) -> tuple[np.ndarray, np.ndarray]:
    """The rows a round trains on, taken from the entry's prepared data as zoo's benchmark takes them."""
    from zoo import api
    from zoo.bench_data import bench_data, first_rows

    spec = api.get_spec(args.entry)
    data = bench_data(spec, api.get_dataset(spec.dataset), args.data_dir)
    n = args.steps * spec.fit.batch_size
    return first_rows(data.x_train, n), first_rows(data.y_train, n)


def serve(args, out) -> None:
    """Build the side, say ready, then run a round per ``round`` line until ``done``."""
    def say(record: dict) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    baseline = rss_bytes()
    if args.side == "zoo":
        one_round, facts = _zoo_side(args)
    else:
        # A script imports its framework at the top, before it loads its data (as zoo.bench imports Keras): the
        # order decides which arrays are still alive when the framework's memory comes on top of them.
        importlib.import_module("keras" if args.side == "keras" else "torch")
        one_round, facts = (_keras_side if args.side == "keras" else _torch_side)(args, *_round_rows(args))
    say({"ready": True, "side": args.side, "pid": os.getpid(), "baseline_rss_bytes": baseline, **facts})
    for line in sys.stdin:
        if line.strip() == "round":
            start = time.perf_counter()
            steps, steady = one_round()
            say({"seconds": time.perf_counter() - start, "steady_steps": steps, "steady_seconds": steady})
        elif line.strip() == "done":
            break
    say({"peak_rss_bytes": peak_rss_bytes(), "gpu_peak_bytes": gpu_peak_bytes(facts["backend"])})


def main(argv: list[str] | None = None) -> int:
    """Run one side; its protocol goes to the original stdout, everything else a library prints to stderr."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.worker")
    parser.add_argument("--side", choices=("zoo", "keras", "torch"), required=True)
    parser.add_argument("--entry", required=True)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--data-dir")
    parser.add_argument("--precision", choices=POLICIES, default=FLOAT32,
                        help="what zoo's side trains in (zoo.precision); the plain scripts compute in float32")
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        serve(args, out)
    except Exception as exc:  # the parent reports it in one line, naming the side
        out.write(json.dumps({"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"}) + "\n")
        out.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
