"""A worker of the distribution tests, run as its own process (devices and clusters are set per process).

    python tests/distributed_job.py run NAME --out DIR [--epochs N] [--data-dir D] [--resume] [--scale-batch]
        what ``zoo run NAME --distribute data-parallel`` does (zoo.run.run_model under a supervised worker;
        every worker trains, the chief writes), with the heartbeat and join timeouts the tests need; prints
        a JSON line about this worker, with a digest of the weights it trained.
    python tests/distributed_job.py compare NAME... [--epochs N] [--data-dir D]
        trains each NAME on one device and data-parallel over the devices of this process, from the
        same seed; prints a JSON line each with both test accuracies and the largest weight difference.

Logical CPU devices come from $ZOO_CPU_DEVICES; the cluster from TF_CONFIG or KERAS_DISTRIBUTION_*.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

STARTED = time.time()  # before TensorFlow or JAX is imported

from zoo.errors import ZooError  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("run", "compare"))
    parser.add_argument("names", nargs="+")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--scale-batch", action="store_true")
    parser.add_argument("--heartbeat", type=int, default=10)
    parser.add_argument("--join", type=int, default=60)
    args = parser.parse_args(argv)
    from zoo.distributed.distribution import DistributeSettings, read_cluster
    from zoo.environment import backend
    from zoo.distributed.supervise import is_child, supervise

    settings = DistributeSettings("data-parallel", scale_batch=args.scale_batch, join_timeout_s=args.join,
                                  heartbeat_timeout_s=args.heartbeat)
    cluster = read_cluster(backend())
    if args.mode == "run" and cluster.multi_worker and not is_child():
        return supervise([sys.executable, __file__, *argv], cluster, args.names[0])
    from zoo.interrupts import Terminated, installed

    try:
        with installed():
            return (run if args.mode == "run" else compare)(args, settings)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr, flush=True)
        if cluster.multi_worker:  # the engines' exit handlers would wait on lost peers, and log after this line
            os._exit(1)
        return 1
    except KeyboardInterrupt as exc:
        print(f"zoo: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


def run(args, settings) -> int:
    import zoo.run
    from zoo.distributed.engines import setup_distribution

    started, started_at = time.perf_counter(), time.time()
    distribution = setup_distribution(settings)
    trained = {}
    real_train = zoo.run.train_distributed

    def keep(*a, **kw):  # the workers return no Run: keep what each trained, to compare their weights
        trained["result"] = real_train(*a, **kw)
        return trained["result"]

    zoo.run.train_distributed = keep
    options = zoo.run.RunOptions(epochs=args.epochs, data_dir=args.data_dir, out=args.out, verbose=0,
                                 resume=args.resume)
    done = zoo.run.run_model(args.names[0], options, distribution=distribution)
    print(json.dumps({"worker": distribution.worker_index, "chief": distribution.is_chief,
                      "engine": distribution.engine, "replicas": distribution.replicas,
                      "weights_sha256": weights_digest(trained["result"].model), "wrote": done is not None,
                      "seconds": round(time.perf_counter() - started, 1),
                      "import_seconds": round(started_at - STARTED, 1), "done_at": time.time()}), flush=True)
    return 0


def weights_digest(model) -> str:
    import hashlib

    import numpy as np

    return hashlib.sha256(b"".join(np.asarray(w, np.float32).tobytes() for w in model.get_weights())).hexdigest()


def compare(args, settings) -> int:
    from zoo.distributed.engines import setup_distribution
    from zoo.plugins import load_registry

    distribution = setup_distribution(settings, device="cpu")
    registry = load_registry()
    for name in args.names:
        spec = registry.model(name)
        compare_one(spec, registry.dataset(spec.dataset), args, distribution)
    return 0


def compare_one(spec, dataset, args, distribution) -> None:
    import numpy as np

    from zoo.datasets import load_dataset
    from zoo.distributed.train import train_distributed
    from zoo.evaluate import evaluate
    from zoo.prepare import prepare
    from zoo.training import TrainSettings, train

    data = prepare(spec, dataset, load_dataset(dataset, args.data_dir))
    train_settings = TrainSettings.of(spec, epochs=args.epochs, validate=False)  # the test scores both models after
    timings = {}
    started = time.perf_counter()
    single = train(spec, data, train_settings, device="cpu", verbose=0)
    timings["single_s"] = time.perf_counter() - started
    started = time.perf_counter()
    spread = train_distributed(spec, data, train_settings, distribution, verbose=0)
    timings["distributed_s"] = time.perf_counter() - started
    diff = max(float(np.max(np.abs(a - b))) for a, b in
               zip(single.model.get_weights(), spread.model.get_weights(), strict=True))
    scores = [evaluate(spec, dataset, model, data).primary[1] for model in (single.model, spread.model)]
    print(json.dumps({"name": spec.name, "engine": distribution.engine, "replicas": distribution.replicas,
                      "record": distribution.record(train_settings.batch_size),
                      "single": scores[0], "distributed": scores[1], "max_weight_diff": diff,
                      "epochs": [len(single.history["loss"]), len(spread.history["loss"])],
                      "train_samples": [single.train_samples, spread.train_samples],
                      "dropped": spread.dropped_train_samples,
                      "optimizer_iterations": [int(m.optimizer.iterations.numpy())
                                               for m in (single.model, spread.model)],
                      **{k: round(v, 1) for k, v in timings.items()}}), flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
