"""One side of a scaling comparison, in a process of its own: an entry trained data-parallel on N replicas.

``python -m zoo.distributed.scaling_run --model M --replicas N [--device cpu-logical|gpu] [--steps S]
[--seconds T] [--min-rounds R] [--data-dir D] [--json]`` (``zoo.distributed.scaling.build_parser``).

First, before TensorFlow or JAX start, the devices are fixed: the CPU split into N logical devices, or the
first N GPUs made the only visible ones. Then the entry's model is built and compiled in the engine's scope
(``setup_distribution``: MirroredStrategy or keras.distribution.DataParallel) and trained through zoo's own
``fit_model`` on the batches ``train_distributed`` would feed it (the entry's batch as the global batch,
``data_for_fit``; as many steps per backend call as the engine can run, ``steps_per_call_limit``), on the benchmark
suite's data (``zoo.bench.bench_data``: the dataset where it can be loaded, else random data of its shape).
Each round is one ``fit`` call of ``--steps`` steps, timed in its steady state as the benchmark suite times
training (``zoo.bench.SteadyClock``: from the end of the first backend call past step 10 to the end of the
call); the rate is the fastest round's (the median's is kept beside it).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from zoo.distributed.scaling import ENGINE_BACKENDS, MAX_ROUNDS, NO_ENGINE, Options, ScalingError, parse_args
from zoo.errors import ZooError

# Steps per round by default: three backend calls of zoo.execution.MAX_STEPS for light steps (the first,
# which compiles, is left out of the steady state), 2 x the warm-up steps for heavy ones (one step per call).
LIGHT_ROUND_CALLS = 3
HEAVY_ROUND_STEPS = 20


def visible_gpus(replicas: int, environ: Mapping[str, str]) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a side of ``replicas`` GPUs: the first ones of those already visible."""
    given = environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in given.split(",") if i.strip()] if given else [str(i) for i in range(replicas)]
    return ",".join(ids[:replicas])


def start_engine(options: Options):
    """The Distribution for ``options``, its devices fixed first (call before anything runs TensorFlow or JAX)."""
    from zoo.distributed.distribution import DistributeSettings
    from zoo.distributed.engines import setup_distribution
    from zoo.environment import backend

    name = backend()
    if name not in ENGINE_BACKENDS:
        raise ScalingError(NO_ENGINE.format(backend=name))
    if options.device == "gpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = visible_gpus(options.replicas, os.environ)
    logical = options.replicas if options.device == "cpu-logical" else None
    settings = DistributeSettings("data-parallel", logical_cpus=logical)
    distribution = setup_distribution(settings, backend=name, device="cpu" if logical else "gpu", environ={})
    if distribution.replicas != options.replicas:
        raise ScalingError(f"asked for {options.replicas} replicas on {options.device}, but {distribution.engine} "
                           f"has {distribution.replicas} ({', '.join(distribution.local_devices)}); "
                           "ask for as many as there are devices")
    return distribution


def weight_copies(model, backend: str) -> int:
    """On how many devices the model's first weight lives: one copy per replica under data parallelism."""
    value = model.trainable_variables[0].value
    if backend == "jax":
        return len(value.sharding.device_set)
    return len(getattr(value, "values", (value,)))  # a MirroredVariable holds one per replica


def round_steps(model, global_batch: int) -> int:
    """Steps per round by default (see LIGHT_ROUND_CALLS)."""
    from zoo.execution import HEAVY_STEP_FLOPS, MAX_STEPS
    from zoo.flops import training_flops

    light = training_flops(model) * global_batch < HEAVY_STEP_FLOPS
    return LIGHT_ROUND_CALLS * MAX_STEPS if light else HEAVY_ROUND_STEPS


def measure(options: Options) -> dict:
    """Train ``options.model`` data-parallel on ``options.replicas`` replicas here; its figures as a dict."""
    from zoo import api

    spec = api.get_spec(options.model)  # an unknown name fails here, before TensorFlow or JAX start
    distribution = start_engine(options)
    from zoo import bench
    from zoo.devices import gpu_names
    from zoo.environment import cpu_name
    from zoo.seeding import set_seed

    plan = distribution.batch(spec.fit.batch_size)
    data = bench.bench_data(spec, api.get_dataset(spec.dataset), options.data_dir)
    set_seed(0)
    with distribution.scope():
        model = api.create_model(options.model)
    steps = options.steps or round_steps(model, plan.global_)
    rounds = timed_rounds(_round(model, spec, data, distribution, plan, steps), options)
    rates = [n * plan.global_ / seconds for n, seconds in rounds]
    on_gpu = options.device == "gpu"
    return {"model": options.model, "backend": distribution.backend, "device": options.device,
            "device_name": gpu_names()[0] if on_gpu else cpu_name(), "engine": distribution.engine,
            "replicas": distribution.replicas, "weight_copies": weight_copies(model, distribution.backend),
            "local_devices": list(distribution.local_devices), "global_batch": plan.global_,
            "per_replica_batch": plan.per_replica, "steps_per_round": steps, "rounds": len(rounds),
            "steady_steps": [n for n, _ in rounds], "steady_seconds": [s for _, s in rounds],
            # The fastest round: on a shared machine other work only ever adds time (as zoo.bench.overhead).
            "samples_per_sec": max(rates), "median_samples_per_sec": statistics.median(rates),
            "steps_per_execution": model.steps_per_execution}


def timed_rounds(fit_round: Callable[[], tuple[int, float]], options: Options) -> list[tuple[int, float]]:
    """(steady steps, steady seconds) of each timed round: at least ``min_rounds``, and more until their steady
    states add up to ``seconds``, after one warm-up round (none when ``seconds`` is 0)."""
    if options.seconds > 0:
        fit_round()  # warm-up: tracing, compilation, allocation
    rounds: list[tuple[int, float]] = []
    while len(rounds) < options.min_rounds or (sum(s for _, s in rounds) < options.seconds
                                               and len(rounds) < MAX_ROUNDS):
        rounds.append(fit_round())
    return rounds


def _round(model, spec, data, distribution, plan, steps: int):
    """A function that trains one round of ``steps`` steps and returns (steady steps, steady seconds)."""
    from zoo.bench import WARM_STEPS, SteadyClock, first_rows
    from zoo.distributed.train import data_for_fit, steps_per_call_limit
    from zoo.prepare import Prepared
    from zoo.training import TrainSettings, fit_model

    n = steps * plan.global_
    x, y = first_rows(data.x_train, n), first_rows(data.y_train, n)
    fit_data, _ = data_for_fit(distribution, Prepared(x, y, data.x_test, data.y_test, data.truth))
    # As train_distributed does: the entry's batch is the global batch; fit gets this worker's share.
    settings = TrainSettings(1, plan.per_worker, steps if spec.fit.steps_per_epoch else None, validate=False,
                             steps_per_execution=steps_per_call_limit(distribution.engine, distribution.replicas))
    clock = SteadyClock(WARM_STEPS)

    def fit_round() -> tuple[int, float]:
        with distribution.scope():  # JAX reads the distribution while feeding batches
            fit_model(model, fit_data, settings, verbose=0, callbacks=[clock])
        end = time.perf_counter()  # fit returns once the devices have finished: Keras reads the epoch's metrics
        return clock.steady(steps, end)

    return fit_round


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one side and print it (one JSON line with ``--json``); 1 with one ``zoo: error:`` line on errors."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        result = measure(options)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    if options.json:
        print(json.dumps(result), flush=True)
    else:
        print(f"{result['model']}: {result['samples_per_sec']:,.0f} training samples/s on {result['replicas']} "
              f"replica(s) ({result['engine']}, {result['device']}: {result['device_name']}), global batch "
              f"{result['global_batch']}, {result['per_replica_batch']} per replica")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter teardown: with JAX's host devices forced and TensorFlow loaded in the same
    # process (Keras' data adapters import it), teardown sometimes aborted (SIGABRT) or hung after the result
    # was printed (mnist_mlp on 2 logical CPU devices, 2026-11-26). The work is done and written by now.
    os._exit(code)
