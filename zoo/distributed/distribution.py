"""Data-parallel training: what zoo was asked for, the cluster the environment describes, and what zoo got.

- TensorFlow backend: ``tf.distribute.MirroredStrategy`` over the local devices, or
  ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster of several tasks.
- JAX backend: ``keras.distribution.DataParallel`` over ``keras.distribution.list_devices()``, over
  several processes when ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` / ``..._NUM_PROCESSES`` / ``..._PROCESS_ID``
  describe them (the variables ``keras.distribution.initialize`` reads).

This module holds the records, reads the environment and does the batch arithmetic without importing
either library (so a light command or a supervising process can use it); ``zoo.distributed.engines`` starts
the engines.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import ZooError

STRATEGIES = ("none", "data-parallel")
# Split the CPU into this many logical devices (tests, laptops): the same code paths as several GPUs.
CPU_DEVICES_ENV = "ZOO_CPU_DEVICES"
JAX_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")


class DistributionError(ZooError):
    """The cluster is described wrongly, cannot be formed, or lost a worker."""


@dataclass(frozen=True)
class DistributeSettings:
    """What a user asked for: ``zoo run NAME --distribute data-parallel [--scale-batch]``."""

    strategy: str = "none"  # "none" or "data-parallel"
    scale_batch: bool = False  # global batch = entry's batch x replicas, instead of split across them
    logical_cpus: int | None = None  # split the CPU into N logical devices (default: $ZOO_CPU_DEVICES)
    join_timeout_s: int = 120  # how long workers wait for each other to join the cluster
    heartbeat_timeout_s: int = 30  # how long a silent worker is waited for before the others stop

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ZooError(f"unknown --distribute {self.strategy!r}; use one of {', '.join(STRATEGIES)}")
        if self.logical_cpus is not None and self.logical_cpus < 1:
            raise ZooError(f"{CPU_DEVICES_ENV} must be a whole number of at least 1, not {self.logical_cpus}")
        if self.join_timeout_s < 1 or self.heartbeat_timeout_s < 1:
            raise ZooError("distribution timeouts must be at least 1 second")


@dataclass(frozen=True)
class Cluster:
    """The processes that train together, as the environment describes them (one process: no cluster)."""

    source: str  # "single process", "TF_CONFIG" or "KERAS_DISTRIBUTION_*"
    workers: int = 1
    index: int = 0  # this process's place: 0 is the chief
    addresses: tuple[str, ...] = ()  # TF: every task; JAX: the coordinator first
    task: tuple[str, int] | None = None  # TF: this process's (task type, task index)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files (TF: the ``chief`` task, else worker 0; JAX: process 0)."""
        return self.index == 0

    @property
    def multi_worker(self) -> bool:
        """Whether several processes train together."""
        return self.workers > 1

    def describe(self) -> str:
        """E.g. ``worker 1 of 2 (TF_CONFIG)``."""
        return f"worker {self.index} of {self.workers} ({self.source})"


def read_cluster(backend: str, environ: Mapping[str, str] | None = None) -> Cluster:
    """The cluster ``environ`` describes for ``backend``: TF_CONFIG (tensorflow) or KERAS_DISTRIBUTION_* (jax)."""
    environ = os.environ if environ is None else environ
    has_tf, has_jax = bool(environ.get("TF_CONFIG")), any(k in environ for k in JAX_ENV)
    if backend == "tensorflow":
        if has_jax:
            raise DistributionError("KERAS_DISTRIBUTION_* describe a JAX cluster, but the Keras backend is tensorflow; "
                                    "describe a TensorFlow cluster with TF_CONFIG, or set KERAS_BACKEND=jax")
        return _tf_cluster(environ["TF_CONFIG"]) if has_tf else Cluster("single process")
    if backend == "jax":
        if has_tf:
            raise DistributionError("TF_CONFIG describes a TensorFlow cluster, but the Keras backend is jax; set "
                                    "KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES and _PROCESS_ID instead, "
                                    "or set KERAS_BACKEND=tensorflow")
        return _jax_cluster(environ) if has_jax else Cluster("single process")
    raise DistributionError(f"--distribute data-parallel needs the tensorflow or jax Keras backend, not {backend}; "
                            "set KERAS_BACKEND=tensorflow or jax")


def _tf_cluster(text: str) -> Cluster:
    """TF_CONFIG's cluster: the ``chief`` task (if any) is index 0, then the ``worker`` tasks in order."""
    try:
        config = json.loads(text)
        cluster, task = config.get("cluster") or {}, config.get("task") or {}
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
        kind, number = task["type"], int(task["index"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DistributionError(f"TF_CONFIG is not a cluster description ({type(exc).__name__}: {exc}); expected "
                                '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
                                ) from exc
    tasks = [("chief", i) for i in range(len(chiefs))] + [("worker", i) for i in range(len(workers))]
    if len(chiefs) > 1 or (kind, number) not in tasks:
        raise DistributionError(f"TF_CONFIG: task {kind} {number} is not in its cluster of {len(chiefs)} chief and "
                                f"{len(workers)} worker tasks; give each process its own task (at most one chief)")
    if set(cluster) - {"chief", "worker"}:
        raise DistributionError(f"TF_CONFIG: MultiWorkerMirroredStrategy takes only chief and worker tasks, not "
                                f"{', '.join(sorted(set(cluster) - {'chief', 'worker'}))}")
    return Cluster("TF_CONFIG", len(tasks), tasks.index((kind, number)), tuple(chiefs + workers), (kind, number))


def _jax_cluster(environ: Mapping[str, str]) -> Cluster:
    missing = [k for k in JAX_ENV if not environ.get(k)]
    if missing:
        raise DistributionError(f"a JAX cluster needs all of {', '.join(JAX_ENV)}; {', '.join(missing)} not set")
    try:
        workers, index = int(environ[JAX_ENV[1]]), int(environ[JAX_ENV[2]])
    except ValueError as exc:
        raise DistributionError(f"{JAX_ENV[1]} and {JAX_ENV[2]} must be whole numbers ({exc})") from exc
    addresses = tuple(a.strip() for a in environ[JAX_ENV[0]].split(",") if a.strip())
    if not 0 <= index < workers:
        raise DistributionError(f"{JAX_ENV[2]}={index} is outside 0..{workers - 1} ({JAX_ENV[1]}={workers})")
    if len(addresses) not in (1, workers):
        raise DistributionError(f"{JAX_ENV[0]} lists {len(addresses)} addresses for {workers} processes; give the "
                                "coordinator's host:port (process 0), or one address per process")
    return Cluster("KERAS_DISTRIBUTION_*", workers, index, addresses)


@dataclass(frozen=True)
class BatchPlan:
    """How the entry's batch size becomes the global, per-replica and per-worker (``fit``) batch sizes."""

    entry: int  # the entry's batch size (or --batch-size)
    global_: int  # samples per optimizer step, all replicas together
    per_replica: int
    per_worker: int  # what this process passes to fit(batch_size=...)
    scaled: bool


def plan_batch(entry: int, replicas: int, workers: int, *, scale: bool, fit_takes_global: bool) -> BatchPlan:
    """The tutorial's math by default: the entry's batch is the global batch, split across replicas;
    with ``scale`` every replica gets the entry's batch and the global batch grows with the replicas.

    ``fit_takes_global``: tf.distribute splits fit's batch across all workers (TF); with
    keras.distribution each process feeds its own share of the global batch (JAX).
    """
    global_ = entry * replicas if scale else entry
    if global_ % replicas:
        raise DistributionError(f"batch size {entry} does not split evenly across {replicas} replicas; use a "
                                f"--batch-size that is a multiple of {replicas}, or --scale-batch")
    return BatchPlan(entry, global_, global_ // replicas, global_ if fit_takes_global else global_ // workers, scale)


@dataclass
class Distribution:
    """What zoo got: the engine, the replicas and workers, this process's place, and the scope to train in.

    Build and compile the model inside ``scope()``, and call ``fit`` inside it too (JAX reads the
    distribution while feeding batches); ``finish()`` when training is over, on every worker.
    """

    strategy: str  # "none" or "data-parallel"
    backend: str
    engine: str | None  # "MirroredStrategy", "MultiWorkerMirroredStrategy", "DataParallel"; None without one
    replicas: int
    cluster: Cluster
    local_devices: tuple[str, ...] = ()
    logical_cpus: int | None = None
    scale_batch: bool = False
    timeouts: dict[str, int] = field(default_factory=dict)
    handle: Any = None  # the tf.distribute.Strategy or keras.distribution.Distribution
    _scope: Callable[[], contextlib.AbstractContextManager] | None = None
    _finish: Callable[[], None] | None = None

    @property
    def workers(self) -> int:
        """How many processes train together."""
        return self.cluster.workers

    @property
    def worker_index(self) -> int:
        """This process's place among them; 0 is the chief."""
        return self.cluster.index

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files."""
        return self.cluster.is_chief

    @property
    def fit_takes_global_batch(self) -> bool:
        """tf.distribute splits fit's batch across every worker; keras.distribution takes each process's share."""
        return self.backend != "jax"

    @property
    def shards_data(self) -> bool:
        """Whether each process must feed only its own rows (JAX over several processes)."""
        return self.backend == "jax" and self.workers > 1

    @property
    def even_batches(self) -> bool:
        """Whether every batch, the last one included, must split evenly over the local devices (JAX shards)."""
        return self.backend == "jax" and self.engine is not None

    def batch(self, entry_batch: int) -> BatchPlan:
        """The batch sizes for an entry whose batch size is ``entry_batch``."""
        return plan_batch(entry_batch, self.replicas, self.workers, scale=self.scale_batch,
                          fit_takes_global=self.fit_takes_global_batch)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build, compile and fit inside this."""
        with self._scope() if self._scope else contextlib.nullcontext():
            yield

    def finish(self) -> None:
        """Leave the cluster (JAX: every process together, so none waits at exit for a busy chief)."""
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()

    def record(self, entry_batch: int) -> dict[str, Any]:
        """What report.json records under ``"distribution"``."""
        plan = self.batch(entry_batch)
        return {"strategy": self.strategy, "backend": self.backend, "engine": self.engine,
                "replicas": self.replicas, "workers": self.workers, "cluster": self.cluster.source,
                "local_devices": list(self.local_devices), "logical_cpu_devices": self.logical_cpus,
                "batch": {"entry": plan.entry, "global": plan.global_, "per_replica": plan.per_replica,
                          "per_worker": plan.per_worker, "scaled_with_replicas": plan.scaled},
                "timeouts_s": dict(self.timeouts)}


def logical_cpus_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """``$ZOO_CPU_DEVICES`` as a number, or None when unset."""
    text = (os.environ if environ is None else environ).get(CPU_DEVICES_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ZooError(f"{CPU_DEVICES_ENV}={text!r}: give the number of logical CPU devices, e.g. {CPU_DEVICES_ENV}=2")
    return int(text)



def single_process_record(backend: str, batch_size: int) -> dict[str, Any]:
    """report.json's ``"distribution"`` for a run with no engine: one replica, one worker."""
    return {"strategy": "none", "backend": backend, "engine": None, "replicas": 1, "workers": 1,
            "cluster": "single process",
            "batch": {"entry": batch_size, "global": batch_size, "per_replica": batch_size, "per_worker": batch_size,
                      "scaled_with_replicas": False}}
