"""The pure parts of the data-parallel scaling benchmark (zoo.distributed.scaling, scaling_run): the efficiency
arithmetic, the record and table, the choice of devices, the sides' command and environment, the timed-round
loop, and the side process's argument errors. benchmarks/test_scaling.py runs the real comparison."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zoo.distributed import scaling, scaling_run
from zoo.distributed.scaling import Options, ScalingError
from zoo.distributed.train import steps_per_call_limit


def side(replicas: int, rate: float, *, device: str = "cpu-logical", calls: int = 1) -> dict:
    """A side's JSON record as scaling_run prints it."""
    return {"model": "iris_mlp", "backend": "tensorflow", "device": device, "device_name": "AMD EPYC (2 cores)",
            "engine": "MirroredStrategy", "replicas": replicas, "weight_copies": replicas,
            "local_devices": [f"/device:CPU:{i}" for i in range(replicas)], "global_batch": 32,
            "per_replica_batch": 32 // replicas, "steps_per_round": 192, "rounds": 3,
            "steady_steps": [182] * 3, "steady_seconds": [1.0] * 3, "samples_per_sec": rate,
            "median_samples_per_sec": rate * 0.9, "steps_per_execution": calls}


def test_efficiency_is_n_replicas_rate_over_n_times_one_replicas():
    assert scaling.efficiency(1000.0, 1800.0, 2) == pytest.approx(0.9)
    assert scaling.efficiency(1000.0, 4000.0, 4) == pytest.approx(1.0)
    assert scaling.efficiency(1000.0, 500.0, 2) == pytest.approx(0.25)
    with pytest.raises(ScalingError, match="positive 1-replica rate"):
        scaling.efficiency(0.0, 100.0, 2)
    with pytest.raises(ScalingError, match="replicas >= 1"):
        scaling.efficiency(100.0, 100.0, 0)


def test_record_compares_the_two_sides():
    record = scaling.scaling_record(side(1, 1000.0, calls=64), side(2, 1500.0), 2)
    assert record["mode"] == "scaling" and record["device"] == "cpu-logical" and record["replicas"] == 2
    assert (record["samples_per_sec_1"], record["samples_per_sec_n"]) == (1000.0, 1500.0)
    assert record["speedup"] == pytest.approx(1.5) and record["efficiency"] == pytest.approx(0.75)
    assert (record["replicas_in_sync_1"], record["replicas_in_sync_n"]) == (1, 2)
    assert (record["global_batch"], record["per_replica_batch"], record["per_replica_batch_1"]) == (32, 16, 32)
    assert (record["steps_per_execution_1"], record["steps_per_execution_n"]) == (64, 1)
    assert record["notes"] == [scaling.CPU_NOTE, scaling.STEPS_NOTE]
    gpu = scaling.scaling_record(side(1, 1000.0, device="gpu"), side(4, 3600.0, device="gpu"), 4)
    assert gpu["notes"] == [scaling.GPU_NOTE] and gpu["efficiency"] == pytest.approx(0.9)


def test_table_has_a_row_per_record_and_the_notes_once():
    records = [scaling.scaling_record(side(1, 70_011.0), side(2, 52_508.25), 2),
               scaling.scaling_record(side(1, 1000.0, calls=64), side(2, 1500.0), 2)]
    records[1]["model"] = "fn_abs"
    lines = scaling.table(records).splitlines()
    assert lines[0].split() == ["model", "backend", "device", "replicas", "1-replica/s", "N-replica/s", "speedup",
                                "efficiency", "steps/call"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["fn_abs", "tensorflow", "cpu-logical", "2", "1,000", "1,500", "1.50×", "75%", "64/1"]
    assert lines[3].split() == ["iris_mlp", "tensorflow", "cpu-logical", "2", "70,011", "52,508", "0.75×", "38%",
                                "1/1"]
    assert scaling.notes(records) == [scaling.CPU_NOTE, scaling.STEPS_NOTE]


def test_target_is_every_gpu_from_two_else_two_logical_cpus():
    assert scaling.choose_target(4) == ("gpu", 4)
    assert scaling.choose_target(1) == ("cpu-logical", 2)
    assert scaling.choose_target(0) == ("cpu-logical", 2)
    assert scaling.choose_target(8, ["cpu"]) == ("cpu-logical", 2)
    with pytest.raises(ScalingError, match="at least 2"):
        scaling.choose_target(1, ["gpu"])


def test_side_command_round_trips_through_the_parser():
    options = Options("mnist_cnn", 4, "gpu", 20, 2.5, 3, "/data", json=True)
    command = scaling.child_command(options, python="python")
    assert command[:3] == ["python", "-m", "zoo.distributed.scaling_run"]
    assert scaling.parse_args(command[3:]) == options
    assert scaling.parse_args(["--model", "iris_mlp", "--replicas", "2"]) == Options("iris_mlp", 2)


def test_side_environment_leaves_the_device_count_to_the_side():
    env = scaling.child_env({"ZOO_CPU_DEVICES": "4", "PATH": "/bin", "XLA_PYTHON_CLIENT_PREALLOCATE": "true",
                             "XLA_FLAGS": "--xla_force_host_platform_device_count=8 --xla_dump_to=/tmp/x"})
    assert "ZOO_CPU_DEVICES" not in env and env["PATH"] == "/bin"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert "XLA_FLAGS" not in scaling.child_env({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})


def test_side_gpus_are_the_first_visible_ones():
    assert scaling_run.visible_gpus(2, {}) == "0,1"
    assert scaling_run.visible_gpus(1, {"CUDA_VISIBLE_DEVICES": "3, 5,7"}) == "3"
    assert scaling_run.visible_gpus(4, {"CUDA_VISIBLE_DEVICES": "3,5"}) == "3,5"  # the engine then reports 2


def test_read_child_output_takes_the_last_json_line():
    out = 'Downloading data from https://example.org/mnist.npz\n{"a": 1}\nnoise\n{"a": 2}\n'
    assert scaling.read_child_output(out) == {"a": 2}
    with pytest.raises(ScalingError, match="no JSON line"):
        scaling.read_child_output("nothing here\n")


@pytest.mark.parametrize("seconds, min_rounds, times, calls", [
    (0.0, 1, [0.5], 1),  # smoke: one round, no warm-up
    (2.0, 3, [9.0, 1.0, 1.0, 1.0], 4),  # warm-up, then the minimum, already past 2 s
    (2.0, 3, [9.0, 0.5, 0.5, 0.5, 0.25, 0.25], 6),  # warm-up, then rounds until 2 s of steady state
])
def test_timed_rounds_run_until_the_seconds_and_the_minimum(seconds, min_rounds, times, calls):
    queue = list(times)

    def fit_round():
        return 100, queue.pop(0)

    rounds = scaling_run.timed_rounds(fit_round, Options("iris_mlp", 2, seconds=seconds, min_rounds=min_rounds))
    assert not queue and len(rounds) == calls - (seconds > 0)
    assert rounds == [(100, t) for t in times[(seconds > 0):]]


def test_steps_per_call_is_one_under_tf_distribute_with_several_replicas():
    assert steps_per_call_limit("MirroredStrategy", 2) == 1
    assert steps_per_call_limit("MultiWorkerMirroredStrategy", 4) == 1
    assert steps_per_call_limit("MirroredStrategy", 1) is None
    assert steps_per_call_limit("DataParallel", 8) is None


@pytest.mark.parametrize("args, message", [
    (["--replicas", "0"], "--replicas 0: give the number of data-parallel replicas, at least 1"),
    (["--replicas", "2", "--steps", "0"], "--steps 0: give the optimizer steps per round, at least 1"),
    (["--replicas", "2", "--seconds", "-1"], "--seconds -1.0: give the seconds to time, 0 or more"),
    (["--replicas", "2", "--seconds", "nan"], "--seconds nan: give the seconds to time, 0 or more"),
    (["--replicas", "2", "--min-rounds", "0"], "--min-rounds 0: give a number of rounds from 1 to 1000"),
])
def test_side_refuses_bad_arguments_in_one_line(args, message, capsys):
    assert scaling_run.main(["--model", "iris_mlp", *args]) == 1
    assert capsys.readouterr().err == f"zoo: error: {message}\n"


def test_side_process_names_an_unknown_entry_and_the_comparison_says_which_side():
    """The real ``python -m`` entry point: an unknown name fails before TensorFlow or JAX start (fast)."""
    done = subprocess.run([sys.executable, "-m", "zoo.distributed.scaling_run", "--model", "no_such_model",
                           "--replicas", "2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("zoo: error: unknown model 'no_such_model'") and done.stderr.count("\n") == 1
    with pytest.raises(ScalingError, match=r"^no_such_model: the 1-replica run failed: unknown model 'no_such_model'"):
        scaling.compare("no_such_model", 2, "cpu-logical", steps=12, seconds=0, min_rounds=1, concurrent=True)
    with pytest.raises(SystemExit) as usage:  # argparse's own errors: usage and exit code 2
        scaling_run.main(["--replicas", "2"])
    assert usage.value.code == 2
