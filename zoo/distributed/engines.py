"""Starting the engines: tf.distribute for the TensorFlow backend, keras.distribution for JAX.

``setup_distribution`` must run before anything else in the process uses TensorFlow or JAX: logical
CPU devices, the cluster and the engines' timeouts can only be set before the runtime starts.
It returns a ``zoo.distributed.distribution.Distribution``. Timeouts are set so that a worker that
never joins, dies or stops answering ends the others within a bounded time (see ``engine_failure``
for how their errors become one line). Where Keras' own entry point cannot pass a timeout, zoo calls
the engine underneath with the same arguments.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

from zoo.distributed.cpu_devices import split_cpu
from zoo.distributed.distribution import (Cluster, DistributeSettings, Distribution, DistributionError, logical_cpus_from_env,
                              read_cluster)


def setup_distribution(settings: DistributeSettings, *, backend: str | None = None, device: str = "auto",
                       environ: Mapping[str, str] | None = None) -> Distribution:
    """Start the engine ``settings`` ask for; call before anything else runs TensorFlow or JAX ops.

    ``device``: ``auto`` (GPUs if there are any, else the CPU), ``cpu`` or ``gpu``.
    """
    from zoo.environment import backend as keras_backend

    backend = backend or keras_backend()
    logical = settings.logical_cpus if settings.logical_cpus is not None else logical_cpus_from_env(environ)
    if logical is not None:
        split_cpu(logical, backend)
    if settings.strategy == "none":
        return Distribution("none", backend, None, 1, Cluster("single process"), logical_cpus=logical)
    cluster = read_cluster(backend, environ)
    start = start_tensorflow if backend == "tensorflow" else start_jax
    return start(settings, cluster, device, logical)


def start_tensorflow(settings: DistributeSettings, cluster: Cluster, device: str, logical: int | None) -> Distribution:
    """MirroredStrategy over this host's devices, or MultiWorkerMirroredStrategy over TF_CONFIG's cluster."""
    import tensorflow as tf

    timeouts = {"join": settings.join_timeout_s, "heartbeat": settings.heartbeat_timeout_s}
    if cluster.multi_worker:
        if device == "cpu":
            tf.config.set_visible_devices([], "GPU")
        _configure_coordination(tf, settings)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as exc:
            raise DistributionError(f"{cluster.describe()}: the cluster did not form within {settings.join_timeout_s} s "
                                    f"({_first_line(exc)}); start every task of TF_CONFIG, check the addresses "
                                    "and ports") from exc
        _reduce_each_value(tf, strategy)
        engine = "MultiWorkerMirroredStrategy"
    else:
        strategy = tf.distribute.MirroredStrategy(_tf_local_devices(tf, device))
        engine = "MirroredStrategy"
        timeouts = {}
    if device == "gpu" and not tf.config.list_logical_devices("GPU"):
        raise DistributionError("--device gpu: no GPU visible to TensorFlow; use --device cpu or auto")
    return Distribution("data-parallel", "tensorflow", engine, strategy.num_replicas_in_sync, cluster,
                        tuple(strategy.extended.worker_devices), logical, settings.scale_batch, timeouts,
                        strategy, strategy.scope)


def _tf_local_devices(tf, device: str) -> list[str]:
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")] if device != "cpu" else []
    if device == "gpu" and not gpus:
        raise DistributionError("--device gpu: no GPU visible to TensorFlow; use --device cpu or auto")
    return gpus or [d.name for d in tf.config.list_logical_devices("CPU")]


def _configure_coordination(tf, settings: DistributeSettings) -> None:
    """Set up TF's coordination service as MultiWorkerMirroredStrategy would, but with bounded waits.

    Left to itself the strategy waits for missing workers without end (measured: a lone worker of
    two still waiting after 13 minutes, deaf to SIGTERM). No public API takes these settings, so this
    uses the eager context's, before the strategy reads them; the strategy keeps a configuration it
    finds. ``cluster_register_with_barrier`` makes joining time out after ``cluster_register_timeout``.
    """
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    except ImportError:  # older layouts
        from tsl.protobuf import coordination_config_pb2

    spec = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    ctx = context.context()
    ctx.configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        cluster_register_timeout_in_ms=settings.join_timeout_s * 1000,
        heartbeat_timeout_in_ms=settings.heartbeat_timeout_s * 1000,
        shutdown_barrier_timeout_in_ms=settings.join_timeout_s * 1000, coordinated_jobs=jobs)
    ctx.coordination_service.cluster_register_with_barrier = True


def _reduce_each_value(tf, strategy) -> None:
    """Let Keras 3's TF trainer run under MultiWorkerMirroredStrategy.

    Keras 3.15 hands ``strategy.reduce`` a whole (x, y) batch to learn shapes, and scalar metrics
    with ``axis=0``; the multi-worker strategy takes neither (keras-team/keras#20585,
    tensorflow/tensorflow#72388; MirroredStrategy maps over the structure itself). Reduce each value
    alone, scalars across replicas only. tests/test_distribute_multiworker.py trains through it and
    checks both workers end with the same weights.
    """
    reduce = strategy.reduce

    def reduce_each(reduce_op, value, axis=None):
        def one(v):
            first = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
            rank = first.shape.rank if hasattr(first, "shape") else tf.convert_to_tensor(first).shape.rank
            return reduce(reduce_op, v, axis=axis if rank else None)

        return tf.nest.map_structure(one, value)

    strategy.reduce = reduce_each


def start_jax(settings: DistributeSettings, cluster: Cluster, device: str, logical: int | None) -> Distribution:
    """keras.distribution.DataParallel over every device of every process of the cluster."""
    import jax
    import keras

    finish, timeouts = None, {}
    if cluster.multi_worker:
        _join_jax(jax, settings, cluster)
        finish = jax.distributed.shutdown
        timeouts = {"join": settings.join_timeout_s, "heartbeat": settings.heartbeat_timeout_s}
    kind = None if device == "auto" else device
    try:
        devices = keras.distribution.list_devices(kind)
    except RuntimeError as exc:  # e.g. "Unknown backend gpu"
        raise DistributionError(f"--device {device}: JAX has no such devices ({_first_line(exc)}); "
                                "use --device cpu or auto") from exc
    # zoo hands each process its own rows (zoo.distributed.train): Keras' auto-sharding takes only tf.data.
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    local = tuple(f"{d.platform}:{d.id}" for d in jax.local_devices(backend=kind))
    return Distribution("data-parallel", "jax", "DataParallel", len(devices), cluster, local, logical,
                        settings.scale_batch, timeouts, distribution, distribution.scope, finish)


def _join_jax(jax, settings: DistributeSettings, cluster: Cluster) -> None:
    """``keras.distribution.initialize`` with timeouts: it calls ``jax.distributed.initialize`` with JAX's
    defaults (300 s to join, 100 s of silence before a worker counts as dead) and cannot pass others."""
    # CPU collectives across processes need an implementation; gloo is JAX 0.10's default, not 0.4's.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address=cluster.addresses[0], num_processes=cluster.workers,
                                   process_id=cluster.index, initialization_timeout=settings.join_timeout_s,
                                   heartbeat_timeout_seconds=settings.heartbeat_timeout_s,
                                   shutdown_timeout_seconds=settings.join_timeout_s)
    except RuntimeError as exc:  # called twice, or after JAX has started
        raise DistributionError(f"{cluster.describe()}: cannot join the JAX cluster ({_first_line(exc)}); "
                                "--distribute must be set up before anything runs JAX in the process") from exc


def gather_ints(distribution: Distribution, value: int) -> list[int]:
    """``value`` from every worker (a collective: every worker must call it), in worker order."""
    if distribution.workers == 1:
        return [value]
    if distribution.backend == "jax":
        import numpy as np
        from jax.experimental import multihost_utils

        return [int(v) for v in np.ravel(multihost_utils.process_allgather(np.array([value])))]
    import tensorflow as tf

    strategy = distribution.handle
    values = strategy.experimental_distribute_values_from_function(lambda _: tf.constant([value], tf.int64))
    per_replica = [int(v) for v in strategy.gather(values, axis=0).numpy()]
    step = len(per_replica) // distribution.workers  # every replica of a worker holds that worker's value
    return per_replica[::step]


@contextlib.contextmanager
def engine_errors(distribution: Distribution) -> Iterator[None]:
    """Turn the engines' errors for a lost or silent worker into one ``DistributionError`` line."""
    try:
        yield
    except Exception as exc:
        error = engine_failure(exc, distribution)
        if error is None:
            raise
        raise error from exc


# Exceptions that mean a peer failed, left or never answered, by engine (matched by class name so
# that neither library is imported to check).
_PEER_ERRORS = {"UnavailableError", "DeadlineExceededError", "AbortedError", "CancelledError"}
_JAX_PEER_WORDS = ("gloo", "heartbeat", "coordination", "deadline", "connection reset", "unavailable", "barrier")


def engine_failure(exc: BaseException, distribution: Distribution) -> DistributionError | None:
    """The one-line error for an engine exception that means the cluster broke, or None for other errors."""
    if distribution.engine is None:
        return None
    name = type(exc).__name__
    detail = _first_line(exc)
    lost = (name in _PEER_ERRORS and distribution.backend == "tensorflow") or (
        name == "JaxRuntimeError" and any(w in detail.lower() for w in _JAX_PEER_WORDS))
    if not lost:
        return None
    timeout = distribution.timeouts.get("heartbeat")
    within = f" within {timeout} s" if timeout else ""
    return DistributionError(f"{distribution.cluster.describe()}: training stopped: another worker failed, left or "
                             f"did not answer{within} ({name}: {detail})")


def _first_line(exc: BaseException) -> str:
    """The engine's message cut to its point: JAX repeats 'Error dispatching computation: ' per step."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(exc).replace("Graph execution error:", "")).strip()
    text = text.rsplit("Error dispatching computation: ", 1)[-1]
    # TensorFlow puts the Python stack where the failing op was defined first; the reason comes after it.
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line[0].isspace() and not line.startswith(("Detected at node", "File "))]
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= 240 else line[:237] + "..."

