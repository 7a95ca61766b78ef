"""The benchmark library: FLOP counts, the case grid, figures from timings, and `zoo bench`."""

import json

import numpy as np
import pytest

from zoo import api, bench
from zoo.cli import main
from zoo.devices import Device
from zoo.flops import forward_flops, forward_macs, training_flops


@pytest.mark.parametrize("name, macs", [
    ("mnist_mlp", 784 * 512 + 512 * 10),
    ("mnist_cnn", 28 * 28 * 25 * 16 + 14 * 14 * 25 * 16 * 32 + 1568 * 128 + 128 * 10),
    ("iris_mlp", 4 * 10 + 10 * 10 + 10 * 3),
    ("fashion_linear", 784 * 10),
])
def test_macs_counted_from_layers(registry, name, macs):
    model = registry.model(name).build()
    assert forward_macs(model) == macs
    assert forward_flops(model) == 2 * macs and training_flops(model) == 6 * macs


def test_case_grid_and_ids():
    grid = bench.cases(["a", "b"], ("cpu", "gpu"))
    # per entry: training, Keras and float ONNX at b1 and b256 on each device; int8 at b1 and b256 and the
    # mobile copy at b1 on the CPU only
    assert len(grid) == 2 * (2 * (1 + 2 * 2) + 2 + 1)
    assert {(c.mode, c.batch_size) for c in grid if c.device == "cpu"} >= {("infer_int8", 1), ("infer_int8", 256),
                                                                           ("infer_mobile", 1)}
    assert not [c for c in grid if c.mode in bench.CPU_ONLY_MODES and c.device == "gpu"]
    assert not [c for c in grid if c.mode == "infer_mobile" and c.batch_size != 1]
    assert bench.Case("mnist_cnn", "infer_onnx", "cpu", 256).id == "mnist_cnn-infer_onnx-cpu-b256"
    assert bench.Case("iris_mlp", "train", "gpu").id == "iris_mlp-train-gpu"


def fake_workload(mode: str, steady=None) -> bench.Workload:
    return bench.Workload(bench.Case("m", mode, "cpu", None if mode == "train" else 256), lambda: None,
                          samples=1000, steps=10, batch_size=100, flops_per_sample=2_000_000,
                          macs_per_sample=1_000_000, param_count=7, device=Device("cpu", "cpu:0", "test cpu"),
                          steady_steps=5 if steady else 0, steady_seconds=steady or [])


def test_figures_from_timings():
    infer = bench.figures(fake_workload("infer_keras"), [0.5, 0.1, 0.1], peak_gflops=10.0)
    assert infer["infer_samples_per_sec"] == pytest.approx(10_000)  # the median round
    assert infer["step_time_ms"] == pytest.approx(10.0)
    assert infer["gflops_per_sec"] == pytest.approx(20.0) and infer["pct_of_matmul_peak"] == pytest.approx(200.0)
    assert infer["gmacs"] == pytest.approx(0.001) and infer["param_count"] == 7
    train = bench.figures(fake_workload("train", steady=[0.05, 0.05, 0.5]), [1.0, 1.0, 1.0])
    assert train["train_samples_per_sec"] == pytest.approx(5 * 100 / 0.05)  # steady state, not the round
    assert train["round_samples_per_sec"] == pytest.approx(1000)


def test_summary_table():
    results = [
        {"model": "m", "mode": "train", "device": "cpu", "batch_size": 32, "samples_per_sec": 100.0,
         "param_count": 10, "gmacs": 3e-6, "pct_of_matmul_peak": 1.234},
        {"model": "m", "mode": "train", "device": "gpu", "batch_size": 32, "samples_per_sec": 450.0,
         "param_count": 10, "gmacs": 3e-6},
        {"model": "m", "mode": "infer_keras", "device": "cpu", "batch_size": 256, "samples_per_sec": 1000.0,
         "param_count": 10, "gmacs": 3e-6},
        {"model": "m", "mode": "infer_onnx", "device": "cpu", "batch_size": 256, "samples_per_sec": 3000.0,
         "param_count": 10, "gmacs": 3e-6},
        {"model": "m", "mode": "overhead", "device": "cpu", "batch_size": 32, "speedup": 1.5, "steady_speedup": 2.5,
         "param_count": 10, "gmacs": 3e-6},
        {"model": "m", "mode": "infer_int8", "device": "cpu", "batch_size": 256, "samples_per_sec": 4500.0,
         "param_count": 10, "gmacs": 3e-6, "quantization": "static", "onnx_bytes": 100},
        {"model": "m", "mode": "infer_mobile", "device": "cpu", "batch_size": 1, "samples_per_sec": 2500.0,
         "param_count": 10, "gmacs": 3e-6, "onnx_bytes": 400},
    ]
    headers, rows = bench.summary(results)
    row = dict(zip(headers, rows[0]))
    assert row["gpu/cpu"] == "4.50×" and row["onnx/keras b256"] == "3.00×" and row["zoo/plain"] == "2.50×" and row["zoo/plain call"] == "1.50×"
    assert row["MACs"] == "3k" and row["% peak cpu"] == "1.2%" and row["onnx b1/s"] == "—"
    assert row["int8 b256/s"] == "4,500" and row["int8/float b256"] == "1.50×" and row["int8 b1/s"] == "—"
    assert row["mobile b1/s"] == "2,500" and len(headers) == len(rows[0])


@pytest.mark.parametrize("name, mode", [("mnist_mlp", "dynamic"), ("mnist_cnn", "static")])
def test_int8_and_mobile_workloads_time_the_exported_copies(tiny_data, name, mode):
    float_b256 = bench.prepare_workload(bench.Case(name, "infer_onnx", "cpu", 256), data_dir=tiny_data)
    int8_b256 = bench.prepare_workload(bench.Case(name, "infer_int8", "cpu", 256), data_dir=tiny_data)
    float_out, int8_out = float_b256.run()[0], int8_b256.run()[0]
    # Not the float model, yet (untrained as the weights are under TensorFlow) the same class on most rows
    assert not np.array_equal(int8_out, float_out)
    assert np.mean(int8_out.argmax(axis=1) == float_out.argmax(axis=1)) > 0.5
    assert int8_b256.notes["quantization"] == mode
    # the bytes timed are zoo's own int8 copy of the float bytes infer_onnx times, smaller than them
    spec = api.get_spec(name)
    data = bench.bench_data(spec, api.get_dataset(spec.dataset), str(tiny_data))
    float_bytes, _ = bench.onnx_bytes(spec, api.get_dataset(spec.dataset), api.create_model(name),
                                      tuple(data.x_test.shape[1:]))
    copy = bench.int8_copy(name, float_bytes, data.x_train)
    assert int8_b256.notes["onnx_bytes"] == len(copy.model_bytes) < len(float_bytes) == float_b256.notes["onnx_bytes"]
    import onnx

    quantized = onnx.load_from_string(copy.model_bytes)
    how = {p.key: p.value for p in quantized.metadata_props}["quantization"]
    ops = {node.op_type for node in quantized.graph.node}
    if mode == "static":
        assert "calibrated on 300 training samples" in how and "QuantizeLinear" in ops  # all 300 of tiny_data
    else:
        assert how.startswith("int8 dynamic") and "MatMulInteger" in ops
    # the mobile copy: the float model at batch 1 in ORT format, the same outputs; no other batch size
    mobile = bench.prepare_workload(bench.Case(name, "infer_mobile", "cpu", 1), data_dir=tiny_data)
    assert mobile.batch_size == 1 and mobile.notes["model_format"] == "ort" and mobile.notes["onnx_bytes"] > 0
    np.testing.assert_allclose(mobile.run()[0], float_out[:1], rtol=1e-5, atol=1e-6)
    with pytest.raises(bench.Skip, match="fixed to 1"):
        bench.prepare_workload(bench.Case(name, "infer_mobile", "cpu", 256), data_dir=tiny_data)


def test_int8_case_skips_where_export_writes_no_int8_copy():
    # iris_mlp's quantization parameters outweigh its 83 weights: `zoo export --int8` writes no copy
    with pytest.raises(bench.Skip, match=r"no int8 copy: int8 \(dynamic\) would be .* writes none"):
        bench.prepare_workload(bench.Case("iris_mlp", "infer_int8", "cpu", 1))
    with pytest.raises(bench.Skip, match="timed on CPU"):
        bench.prepare_workload(bench.Case("iris_mlp", "infer_mobile", "gpu", 1))


def test_gpu_cases_skip_with_the_reason():
    if bench.gpu_names():
        pytest.skip("this machine has a GPU")
    with pytest.raises(bench.Skip, match=f"no GPU visible to {bench.backend_label()}"):
        bench.bench_device("gpu")


def test_zoo_bench_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "LIGHT_TRAIN_STEPS", bench.WARM_STEPS + 2)  # a smoke test: short rounds
    out = tmp_path / "bench.json"
    code = main(["bench", "fn_abs", "--device", "all", "--seconds", "0.05", "--json", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0
    assert "fn_abs" in stdout and "zoo/plain" in stdout and "matmul peak measured in this run" in stdout
    if not bench.gpu_names():
        assert "fn_abs-train-gpu: skipped: no GPU visible to" in stderr
    results = json.loads(out.read_text())["results"]
    modes = {(r["mode"], r.get("batch_size")) for r in results}
    assert {("train", 32), ("infer_keras", 1), ("infer_keras", 256), ("infer_mobile", 1), ("overhead", 32)} <= modes
    assert "int8/float b256" in stdout and "fn_abs-infer_int8-cpu-b1: skipped: no int8 copy" in stderr
    assert all(r.get("samples_per_sec", 1) > 0 for r in results)
    # The training rate is kept for --backend auto (zoo.measured_backends), under this run's backend.
    from zoo.environment import backend
    from zoo.measured_backends import rates_file

    assert "recorded in" in stderr and backend() in json.loads(rates_file().read_text())["cpu"]["fn_abs"]
    for r in results:  # every case measured its memory (zoo.memory)
        assert r.get("peak_rss_bytes", 1) > 0 and "rss_growth_bytes" in r or r["mode"] == "overhead"


def test_zoo_bench_mode_picks_the_cases(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "LIGHT_TRAIN_STEPS", bench.WARM_STEPS + 2)
    out = tmp_path / "bench.json"
    assert main(["bench", "fn_abs", "--device", "cpu", "--seconds", "0.05", "--mode", "infer_keras", "--json",
                 str(out)]) == 0
    assert {(r["mode"], r["batch_size"]) for r in json.loads(out.read_text())["results"]} == \
        {("infer_keras", 1), ("infer_keras", 256)}
    capsys.readouterr()
    assert main(["bench", "fn_abs", "--mode", "inference"]) == 1
    assert "--mode inference: not a benchmark mode; choose from train, infer_keras" in capsys.readouterr().err
