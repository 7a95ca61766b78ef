"""Data-parallel settings without training: the cluster the environment describes, the batch
arithmetic, each worker's rows, engine errors in one line, the supervisor, logical CPU devices."""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.distributed.engines import _first_line, engine_failure, gather_ints, setup_distribution
from zoo.distributed.train import data_for_fit, rows_for_fit, worker_backup_folder
from zoo.distributed.distribution import (Cluster, DistributeSettings, Distribution, DistributionError, logical_cpus_from_env,
                              plan_batch, read_cluster)
from zoo.errors import ZooError
from zoo.prepare import Prepared
from zoo.distributed.supervise import CHILD_ENV, supervise


def tf_config(cluster, kind, index):
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})}


JAX_ENV = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234", "KERAS_DISTRIBUTION_NUM_PROCESSES": "3",
           "KERAS_DISTRIBUTION_PROCESS_ID": "2"}


def test_no_cluster_is_one_process():
    for backend in ("tensorflow", "jax"):
        cluster = read_cluster(backend, {})
        assert (cluster.workers, cluster.index, cluster.is_chief, cluster.multi_worker) == (1, 0, True, False)


def test_tf_config_chief_then_workers():
    cluster = {"chief": ["a:1"], "worker": ["b:2", "c:3"]}
    chief = read_cluster("tensorflow", tf_config(cluster, "chief", 0))
    second = read_cluster("tensorflow", tf_config(cluster, "worker", 1))
    assert (chief.workers, chief.index, chief.is_chief) == (3, 0, True)
    assert (second.index, second.is_chief, second.task) == (2, False, ("worker", 1))
    assert second.describe() == "worker 2 of 3 (TF_CONFIG)"
    only_workers = read_cluster("tensorflow", tf_config({"worker": ["b:2", "c:3"]}, "worker", 0))
    assert only_workers.is_chief and only_workers.addresses == ("b:2", "c:3")


@pytest.mark.parametrize("environ, message", [
    ({"TF_CONFIG": "{not json"}, "TF_CONFIG is not a cluster description"),
    (tf_config({"worker": ["a:1"]}, "worker", 3), "task worker 3 is not in its cluster of 0 chief and 1 worker"),
    (tf_config({"worker": ["a:1"], "ps": ["p:1"]}, "worker", 0), "takes only chief and worker tasks, not ps"),
    (tf_config({"chief": ["a:1", "b:1"]}, "chief", 0), "at most one chief"),
])
def test_bad_tf_config_is_one_clear_error(environ, message):
    with pytest.raises(DistributionError, match=message):
        read_cluster("tensorflow", environ)


def test_keras_distribution_variables_describe_a_jax_cluster():
    cluster = read_cluster("jax", JAX_ENV)
    assert (cluster.workers, cluster.index, cluster.is_chief, cluster.addresses) == (3, 2, False, ("10.0.0.1:1234",))
    full = read_cluster("jax", {**JAX_ENV, "KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2,c:3"})
    assert full.addresses[0] == "a:1"  # the coordinator is process 0's address


@pytest.mark.parametrize("change, message", [
    ({"KERAS_DISTRIBUTION_PROCESS_ID": ""}, "KERAS_DISTRIBUTION_PROCESS_ID not set"),
    ({"KERAS_DISTRIBUTION_PROCESS_ID": "3"}, "outside 0..2"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "three"}, "must be whole numbers"),
    ({"KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1,b:2"}, "lists 2 addresses for 3 processes"),
])
def test_bad_jax_cluster_is_one_clear_error(change, message):
    with pytest.raises(DistributionError, match=message):
        read_cluster("jax", {**JAX_ENV, **change})


def test_cluster_for_the_other_backend_is_refused():
    with pytest.raises(DistributionError, match="describe a JAX cluster, but the Keras backend is tensorflow"):
        read_cluster("tensorflow", JAX_ENV)
    with pytest.raises(DistributionError, match="TF_CONFIG describes a TensorFlow cluster, but the Keras backend is jax"):
        read_cluster("jax", tf_config({"worker": ["a:1"]}, "worker", 0))
    with pytest.raises(DistributionError, match="needs the tensorflow or jax Keras backend, not torch"):
        read_cluster("torch", {})


def test_batch_is_split_across_replicas_unless_scaled():
    split = plan_batch(32, replicas=4, workers=2, scale=False, fit_takes_global=True)
    assert (split.global_, split.per_replica, split.per_worker) == (32, 8, 32)
    scaled = plan_batch(32, replicas=4, workers=2, scale=True, fit_takes_global=False)
    assert (scaled.global_, scaled.per_replica, scaled.per_worker) == (128, 32, 64)
    with pytest.raises(DistributionError, match="batch size 30 does not split evenly across 4 replicas; use a "
                                                "--batch-size that is a multiple of 4, or --scale-batch"):
        plan_batch(30, replicas=4, workers=1, scale=False, fit_takes_global=True)
    assert plan_batch(30, replicas=4, workers=1, scale=True, fit_takes_global=True).per_replica == 30


def test_settings_check_themselves():
    with pytest.raises(ZooError, match="unknown --distribute 'model-parallel'; use one of none, data-parallel"):
        DistributeSettings("model-parallel")
    with pytest.raises(ZooError, match="ZOO_CPU_DEVICES must be a whole number of at least 1"):
        DistributeSettings("data-parallel", logical_cpus=0)
    assert logical_cpus_from_env({"ZOO_CPU_DEVICES": "2"}) == 2 and logical_cpus_from_env({}) is None
    with pytest.raises(ZooError, match=r"ZOO_CPU_DEVICES='two': give the number of logical CPU devices"):
        logical_cpus_from_env({"ZOO_CPU_DEVICES": "two"})


def test_no_strategy_starts_nothing():
    distribution = setup_distribution(DistributeSettings(), backend="tensorflow", environ={})
    assert (distribution.engine, distribution.replicas, distribution.is_chief) == (None, 1, True)
    assert gather_ints(distribution, 5) == [5]
    with distribution.scope():
        pass
    assert distribution.record(32)["batch"]["global"] == 32


def jax_distribution(replicas, workers, index):
    return Distribution("data-parallel", "jax", "DataParallel", replicas, Cluster("test", workers, index))


def test_each_jax_process_feeds_its_own_rows_evenly():
    x = np.arange(11)
    shares = [rows_for_fit(jax_distribution(4, 2, i), x, x * 10) for i in (0, 1)]
    assert [len(s[0]) for s in shares] == [4, 4]  # the same number of rows, so of steps, on each process
    assert sorted(np.concatenate([s[0] for s in shares])) == list(range(8))  # 11 cut to a multiple of 4
    assert all(np.array_equal(s[0] * 10, s[1]) for s in shares)  # inputs stay with their targets
    one = jax_distribution(2, 1, 0)
    data = Prepared(x[:5], x[:5], x[:3], x[:3], x[:3])
    fed, dropped = data_for_fit(one, data)
    assert (len(fed.x_train), len(fed.x_test), dropped) == (4, 2, 1)


def test_tensorflow_feeds_every_row_and_splits_batches_itself():
    mirrored = Distribution("data-parallel", "tensorflow", "MultiWorkerMirroredStrategy", 2, Cluster("test", 2, 1))
    x = np.arange(11)
    assert len(rows_for_fit(mirrored, x, x)[0]) == 11
    assert mirrored.batch(32).per_worker == 32 and jax_distribution(2, 2, 1).batch(32).per_worker == 16


def test_workers_back_up_outside_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_WORKER_DIR", str(tmp_path / "private"))
    folder = tmp_path / "out" / "iris_mlp"
    assert worker_backup_folder(folder, jax_distribution(2, 2, 0)) == folder
    mine = worker_backup_folder(folder, jax_distribution(2, 2, 1))
    assert (tmp_path / "private") in mine.parents and (tmp_path / "out") not in mine.parents
    assert mine == worker_backup_folder(folder, jax_distribution(2, 2, 1))  # --resume finds it again
    assert mine != worker_backup_folder(tmp_path / "other" / "iris_mlp", jax_distribution(2, 2, 1))


def named(name):
    return type(name, (Exception,), {})


def test_lost_worker_errors_become_one_line():
    tf_run = Distribution("data-parallel", "tensorflow", "MultiWorkerMirroredStrategy", 2, Cluster("TF_CONFIG", 2, 0),
                          timeouts={"heartbeat": 10})
    text = ("Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at (most recent call last):\n"
            '  File "x.py", line 3, in <module>\n\n{{function_node __wrapped__}} Collective ops is aborted by: '
            "Socket closed\nAdditional GRPC error information")
    error = engine_failure(named("UnavailableError")(text), tf_run)
    assert str(error) == ("worker 0 of 2 (TF_CONFIG): training stopped: another worker failed, left or did not "
                          "answer within 10 s (UnavailableError: Collective ops is aborted by: Socket closed)")
    assert engine_failure(ValueError("bad input"), tf_run) is None
    jax_run = jax_distribution(2, 2, 1)
    gloo = named("JaxRuntimeError")("INTERNAL: " + "Error dispatching computation: " * 3 +
                                    "Gloo all-reduce failed: Read error: Connection reset by peer")
    assert "(JaxRuntimeError: Gloo all-reduce failed: Read error: Connection reset by peer)" in str(
        engine_failure(gloo, jax_run))
    assert engine_failure(named("JaxRuntimeError")("RESOURCE_EXHAUSTED: out of memory"), jax_run) is None
    single = Distribution("none", "tensorflow", None, 1, Cluster("single process"))
    assert engine_failure(named("UnavailableError")(text), single) is None
    assert len(_first_line(RuntimeError("x" * 1000))) == 240


CHILD = """
import os, signal, sys, time
from pathlib import Path
mode, flag = sys.argv[1], Path(sys.argv[2])
assert os.environ["{env}"] == "1"
if mode == "exit":
    sys.exit(3)
if mode == "abort":
    os.abort()
signal.signal(signal.SIGTERM, lambda *a: sys.exit(7 if os.getpgid(0) != {parent_group} else 8))
flag.write_text("ready")
time.sleep(60)
sys.exit(9)
"""


@pytest.fixture
def child(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(env=CHILD_ENV, parent_group=os.getpgid(0)))
    return lambda mode: [sys.executable, str(script), mode, str(tmp_path / "ready")]


def test_supervisor_passes_the_exit_code_through(child, capsys):
    assert supervise(child("exit"), Cluster("TF_CONFIG", 2, 1), "iris_mlp") == 3
    assert capsys.readouterr().err == ""


def test_supervisor_says_in_one_line_why_a_signal_ended_the_worker(child, capsys):
    assert supervise(child("abort"), Cluster("KERAS_DISTRIBUTION_*", 2, 1), "iris_mlp") == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("zoo: error: iris_mlp: worker 1 of 2 (KERAS_DISTRIBUTION_*): training ended by "
                               "SIGABRT: the distributed runtime stopped this worker: another worker died")


def test_supervisor_forwards_sigterm_once_to_its_own_process_group(child, tmp_path):
    done = threading.Event()

    def terminate_when_ready():
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists() and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.05)
        if not done.is_set():  # a supervisor that already returned must not leave a SIGTERM for the test runner
            os.kill(os.getpid(), signal.SIGTERM)  # to the supervisor (this process), not to the child

    threading.Thread(target=terminate_when_ready, daemon=True).start()
    try:
        assert supervise(child("wait"), Cluster("TF_CONFIG", 2, 0), "iris_mlp") == 7
    finally:
        done.set()
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_splitting_the_cpu_after_tensorflow_started_is_refused():
    import tensorflow as tf

    from zoo.distributed.cpu_devices import split_cpu

    float(tf.reduce_sum(tf.ones(2)))  # TensorFlow has now set up its devices in this process
    with pytest.raises(ZooError, match="ZOO_CPU_DEVICES=3 came too late: TensorFlow had already set up its devices "
                                       "in this process. Set it before zoo starts"):
        split_cpu(3, "tensorflow")
    split_cpu(len(tf.config.list_logical_devices("CPU")), "tensorflow")  # what it already is: fine


def test_splitting_the_cpu_after_jax_started_is_refused():
    jax = pytest.importorskip("jax")
    from zoo.distributed.cpu_devices import split_cpu

    float(jax.numpy.ones(2).sum())
    with pytest.raises(ZooError, match="ZOO_CPU_DEVICES=3 came too late: JAX had already set up its devices"):
        split_cpu(3, "jax")
    split_cpu(len(jax.devices("cpu")), "jax")


def test_resume_is_refused_when_the_workers_backups_disagree(monkeypatch):
    import zoo.distributed.train

    monkeypatch.setattr(zoo.distributed.train, "gather_ints", lambda distribution, value: [2, value])
    zoo.distributed.train._check_same_epoch(jax_distribution(2, 2, 1), 2)
    with pytest.raises(DistributionError, match=r"--resume: the workers' backups hold different numbers of finished "
                                                r"epochs \(worker 0: 2, worker 1: 1\); run again without --resume"):
        zoo.distributed.train._check_same_epoch(jax_distribution(2, 2, 1), 1)
