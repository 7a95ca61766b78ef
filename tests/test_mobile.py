"""Device-sized copies of the exports: batch-1 ONNX and ORT files rated by onnxruntime's own mobile checker,
and int8 copies from onnxruntime's quantizer, validated before anything is written.

The models are the committed exports (the real trained networks); the data is their own test vectors
(the first test sample of each class, in class order, with Keras' outputs), so no dataset is needed.
"""

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from zoo.exports.device_copies import export_device_copies
from zoo.exports.device_summary import B1_ONNX, B1_ORT, INT8_ONNX, manifest_summary, report_lines
from zoo.errors import ExportError
from zoo.exports.compare import compare_outputs
from zoo.exports.export import TEST_DATA_SET, read_tensor
from zoo.exports.runtime import run_onnx
from zoo.exports.mobile import FIXED_BATCH_KEY, MOBILE_EPS, fixed_batch, mobile_usability, ort_format_bytes, to_ort_format
from zoo.exports.metadata import OnnxMetadata
from zoo.exports.quantize import (METRIC_BOUND, QUANTIZATION_KEY, check_int8, choose_mode, quantize_int8, size_and_speed,
                          speed_verdict)

REPO = Path(__file__).resolve().parent.parent
EXPORTS = REPO / "reference" if (REPO / "reference" / "manifest.json").is_file() else REPO / "exports"


def committed(name: str) -> onnx.ModelProto:
    return onnx.load(str(EXPORTS / name / "model.onnx"))


def vectors(name: str) -> tuple[np.ndarray, np.ndarray]:
    folder = EXPORTS / name / TEST_DATA_SET
    return read_tensor(folder / "input_0.pb"), read_tensor(folder / "output_0.pb")


def session(model) -> ort.InferenceSession:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def dims(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def one_by_one(sess, x):
    return run_onnx(sess, x, batch=1)


def test_fixed_batch_fixes_the_batch_and_keeps_graph_and_metadata():
    model = committed("mnist_cnn")
    b1 = fixed_batch(model, 1)
    onnx.checker.check_model(b1, full_check=True)
    assert (dims(b1.graph.input[0]), dims(b1.graph.output[0])) == ([1, 28, 28, 1], [1, 10])
    assert dims(model.graph.input[0])[0] == "batch"  # the original is untouched
    assert [n.op_type for n in b1.graph.node] == [n.op_type for n in model.graph.node]
    props = {p.key: p.value for p in b1.metadata_props}
    assert props.pop(FIXED_BATCH_KEY) == "1"
    assert props == {p.key: p.value for p in model.metadata_props}
    OnnxMetadata.from_props({p.key: p.value for p in b1.metadata_props})  # still a valid zoo export

    x, expected = vectors("mnist_cnn")
    sess = session(b1)
    assert compare_outputs(expected, one_by_one(sess, x), "probabilities").passed
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        sess.run(None, {"pixels": x[:2]})  # the batch really is fixed


def test_fixed_batch_refuses_a_second_dynamic_dimension():
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "width"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    with pytest.raises(ExportError, match="dynamic dimension besides the batch"):
        fixed_batch(model)
    with pytest.raises(ExportError, match="at least 1"):
        fixed_batch(committed("iris_mlp"), 0)


def checker_log(path: Path) -> dict[str, dict[str, str]]:
    """onnxruntime's own checker, run as its script runs it, and the verdicts it logs."""
    from onnxruntime.tools.mobile_helpers.usability_checker import analyze_model

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("test_mobile.checker")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        analyze_model(path, skip_optimize=False, logger=logger)
    finally:
        logger.removeHandler(handler)
    found = {"as_is": {}, "fixed": {}}
    for line in records:
        if m := re.match(r"Model should perform well with (.+) as is: (\w+)$", line):
            found["as_is"][m[1]] = m[2]
        if m := re.match(r"Model should perform well with (.+) if modified to have fixed input shapes: (\w+)$", line):
            found["fixed"][m[1]] = m[2]
    return found


def test_mobile_usability_matches_onnxruntimes_checker(tmp_path):
    """The dynamic batch makes every EP 'NO'; fixed to 1, all three rate 'YES', as the checker itself logs."""
    dynamic, b1 = tmp_path / "model.onnx", tmp_path / B1_ONNX
    b1.parent.mkdir()
    model = committed("mnist_cnn")
    onnx.save(model, str(dynamic))
    onnx.save(fixed_batch(model), str(b1))

    before, after = mobile_usability(dynamic), mobile_usability(b1)
    assert before["verdicts"] == dict.fromkeys(MOBILE_EPS, "NO") and not before["usable"]
    assert before["dynamic_inputs"] == ["pixels"] and before["eps"]["NNAPI"]["nodes_unsupported_for_dynamic_shape"] > 0
    assert after["verdicts"] == dict.fromkeys(MOBILE_EPS, "YES") and after["usable"]
    assert after["dynamic_inputs"] == [] and after["eps"]["NNAPI"]["supported_nodes"] == after["eps"]["NNAPI"]["nodes"]

    log_before, log_after = checker_log(dynamic), checker_log(b1)
    assert log_before["as_is"] == before["verdicts"] and log_after["as_is"] == after["verdicts"]
    assert log_before["fixed"] == {ep: r["if_shapes_fixed"] for ep, r in before["eps"].items()}
    assert log_after["fixed"] == {}
    with pytest.raises(ExportError, match="no such ONNX file"):
        mobile_usability(tmp_path / "absent.onnx")


def test_ort_format_loads_and_reproduces_the_outputs(tmp_path):
    b1 = tmp_path / B1_ONNX
    b1.parent.mkdir()
    onnx.save(fixed_batch(committed("mnist_cnn")), str(b1))
    written = to_ort_format(b1, tmp_path / "out")
    assert written == tmp_path / "out" / Path(B1_ORT).name
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.ort"]  # no converter leftovers
    data = written.read_bytes()
    assert data[4:8] == b"ORTM"  # the ORT format's flatbuffer identifier: not an ONNX protobuf
    assert ort_format_bytes(b1)[4:8] == b"ORTM"

    sess = ort.InferenceSession(str(written), providers=["CPUExecutionProvider"])
    assert OnnxMetadata.from_props(sess.get_modelmeta().custom_metadata_map).model_name == "mnist_cnn"
    x, expected = vectors("mnist_cnn")
    assert compare_outputs(expected, one_by_one(sess, x), "probabilities").passed
    with pytest.raises(ExportError, match="no such ONNX file"):
        ort_format_bytes(tmp_path / "absent.onnx")


def test_choose_mode_by_model_kind():
    assert choose_mode(committed("mnist_cnn")) == "static"
    assert [choose_mode(committed(n)) for n in ("mnist_mlp", "fashion_linear", "iris_mlp")] == ["dynamic"] * 3


def test_quantize_int8_both_modes_keep_the_classes():
    cnn, mlp = committed("mnist_cnn"), committed("mnist_mlp")
    x_cnn, expected_cnn = vectors("mnist_cnn")
    static = quantize_int8(cnn, x_cnn, "static")  # calibrated on the ten test vectors: enough for a test
    ops = {n.op_type for n in static.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    dynamic = quantize_int8(mlp, None, "dynamic")
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= {n.op_type for n in dynamic.graph.node}
    for quantized, model in ((static, cnn), (dynamic, mlp)):
        onnx.checker.check_model(quantized, full_check=True)
        props = {p.key: p.value for p in quantized.metadata_props}
        assert props["model_name"] == {p.key: p.value for p in model.metadata_props}["model_name"]
        assert "int8" in props[QUANTIZATION_KEY]
        assert (quantized.graph.input[0].name, quantized.graph.output[0].name) == (model.graph.input[0].name,
                                                                                   model.graph.output[0].name)
        assert {o.domain for o in quantized.opset_import} <= {"", "ai.onnx", "com.microsoft"}
        assert quantized.ByteSize() < model.ByteSize() / 3
    out = session(static).run(None, {"pixels": x_cnn})[0]
    assert (out.argmax(1) == expected_cnn.argmax(1)).all()
    x_mlp, expected_mlp = vectors("mnist_mlp")
    assert (session(dynamic).run(None, {"pixels": x_mlp})[0].argmax(1) == expected_mlp.argmax(1)).all()

    with pytest.raises(ExportError, match="needs calibration samples"):
        quantize_int8(cnn, None, "static")
    with pytest.raises(ExportError, match="unknown int8 mode"):
        quantize_int8(cnn, x_cnn, "float16")


def test_check_int8_rule():
    rng = np.random.default_rng(0)
    float_out = rng.dirichlet(np.ones(10), size=1000)
    truth = float_out.argmax(1)
    truth[:100] = (truth[:100] + 1) % 10  # float: 90% accurate
    flipped = float_out.copy()
    flipped[100:102] = flipped[100:102, ::-1]  # two samples change class: -0.2 points
    check = check_int8("static", flipped, float_out, truth, "classification", float_out[:10], float_out[:10])
    assert check.passed and check.top1_agreement == pytest.approx(0.998) and check.vector_class_mismatches == 0
    assert check.int8_value == pytest.approx(0.898) and check.bound == METRIC_BOUND == 0.003
    flipped[100:110] = flipped[100:110, ::-1]  # ten samples: -1 point, over the bound
    assert not check_int8("static", flipped, float_out, truth, "classification", float_out[:3], float_out[:3]).passed
    one_vector_off = check_int8("static", float_out, float_out, truth, "classification", flipped[105:106],
                                float_out[105:106])
    assert not one_vector_off.passed and one_vector_off.vector_class_mismatches == 1
    values = np.linspace(-1, 1, 200).reshape(-1, 1)
    close = check_int8("dynamic", values + 0.01, values, values, "regression", values[:4] + 0.01, values[:4])
    assert close.passed and close.metric == "r2" and close.top1_agreement is None
    assert close.vector_max_abs_diff == pytest.approx(0.01)
    assert not check_int8("dynamic", values + 0.1, values, values, "regression", values[:4], values[:4]).passed
    nan = check_int8("dynamic", values * np.nan, values, values, "regression", values[:4], values[:4])
    assert not nan.passed


def test_speed_verdict_says_size_win_or_speed_win():
    def speed(b1, b256):
        return {"batch_1": {"int8_speedup": b1}, "batch_256": {"int8_speedup": b256}}

    assert speed_verdict(3.7, speed(0.5, 0.95)).startswith("3.7x smaller; a size win only, not faster on this CPU")
    assert speed_verdict(4.0, speed(1.45, 1.3)).startswith("4.0x smaller and faster")
    assert speed_verdict(4.0, speed(1.45, 1.0)).startswith("4.0x smaller; faster at batch 1 only")
    assert speed_verdict(0.5, speed(0.7, 0.7)).startswith("2.0x larger and not faster: no win")


def test_size_and_speed_times_both_models():
    model = committed("iris_mlp")
    quantized = quantize_int8(model, None, "dynamic").SerializeToString()
    x = np.ones((4, 4), np.float32)
    facts = size_and_speed(model.SerializeToString(), quantized, x, seconds=0.04, rounds=2)
    assert facts["threads"] == 1
    assert facts["float_bytes"] == model.ByteSize() and facts["int8_bytes"] == len(quantized)
    for batch in (1, 256):
        s = facts["speed"][f"batch_{batch}"]
        assert s["float_samples_per_s"] > 0 and s["int8_samples_per_s"] > 0 and s["rounds"] == 2
        assert 0 < s["int8_speedup"] < 100 and f"{s['int8_speedup']:.2f}x" in facts["verdict"]
    assert facts["verdict"].startswith(f"{len(quantized) / model.ByteSize():.1f}x larger")


def entry_folder(tmp_path: Path, name: str) -> tuple[Path, onnx.ModelProto, np.ndarray, np.ndarray, np.ndarray]:
    """A copy of a committed export's folder; its test vectors serve as the test split (truth: one per class)."""
    folder = shutil.copytree(EXPORTS / name, tmp_path / name)
    x, expected = vectors(name)
    return folder, onnx.load(str(folder / "model.onnx")), x, np.arange(len(x)), expected


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_device_copies_writes_validated_files(tmp_path):
    folder, model, x, truth, expected = entry_folder(tmp_path, "mnist_mlp")
    facts = export_device_copies(model, folder, x, truth, expected, "probabilities", None, mobile=True, int8=True,
                                 timing_seconds=0.05)
    assert facts["files"] == [B1_ONNX, B1_ORT, INT8_ONNX]
    mobile = facts["mobile"]
    for name in (B1_ONNX, B1_ORT):
        data = (folder / name).read_bytes()
        assert mobile["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        assert compare_outputs(expected, one_by_one(session(data), x), "probabilities").passed
        assert mobile["validation"][name]["test_split"]["samples"] == len(x)
    assert mobile["usability"]["verdicts"] == dict.fromkeys(MOBILE_EPS, "YES")
    assert mobile["usability_dynamic_batch"]["verdicts"] == dict.fromkeys(MOBILE_EPS, "NO")

    int8 = facts["int8"]
    assert int8["mode"] == "dynamic" and int8["bytes"] == (folder / INT8_ONNX).stat().st_size
    assert int8["sha256"] == hashlib.sha256((folder / INT8_ONNX).read_bytes()).hexdigest()
    assert int8["validation"]["passed"] and int8["validation"]["top1_agreement"] == 1.0
    assert int8["size_ratio"] > 3.5 and set(int8["speed"]) == {"batch_1", "batch_256"}
    assert ("a size win only" in int8["verdict"]) or ("faster" in int8["verdict"])

    summary = manifest_summary(facts)
    assert summary["mobile"]["usable"] and summary["mobile"]["files"] == [B1_ONNX, B1_ORT]
    assert summary["int8"]["mode"] == "dynamic" and summary["int8"]["top1_agreement"] == 1.0
    lines = report_lines(facts)
    assert lines[0].startswith("- Mobile (batch fixed to 1): `batch1/model.onnx`") and "NNAPI YES" in lines[0]
    assert lines[1].startswith("- int8 (`int8/model.onnx`, dynamic): accuracy 1.0000 int8 vs 1.0000 float")
    assert len(facts["vector_files"]) == 2 * len(x) + 2  # one sample per batch-1 set; int8's set holds all
    assert set(mobile["test_data_sets"]) | set(int8["test_data_sets"]) == set(facts["vector_files"])


def test_int8_that_would_grow_the_file_is_not_written(tmp_path):
    folder, model, x, truth, expected = entry_folder(tmp_path, "iris_mlp")
    facts = export_device_copies(model, folder, x, truth, expected, "probabilities", None, mobile=False, int8=True)
    assert "the quantization parameters outweigh the weights saved" in facts["int8"]["skipped"]
    assert facts["files"] == [] and not (folder / INT8_ONNX).exists()
    assert manifest_summary(facts)["int8"] == facts["int8"]
    assert report_lines(facts) == [f"- int8: {facts['int8']['skipped']}."]


def _shift_last_bias(model: onnx.ModelProto, by: float) -> onnx.ModelProto:
    """A wrong model: the output layer's bias for class 0 raised, so class 0 wins everywhere."""
    wrong = onnx.ModelProto()
    wrong.CopyFrom(model)
    bias = min((t for t in wrong.graph.initializer if len(t.dims) == 1 and t.dims[0] == 10), key=lambda t: t.name)
    values = onnx.numpy_helper.to_array(bias).copy()
    values[0] += by
    bias.CopyFrom(onnx.numpy_helper.from_array(values, bias.name))
    return wrong


@pytest.mark.parametrize("broken", ["int8", "b1"])
def test_a_copy_failing_validation_writes_nothing(tmp_path, monkeypatch, broken):
    import zoo.exports.device_copies

    folder, model, x, truth, expected = entry_folder(tmp_path, "mnist_mlp")
    before = snapshot(folder)
    if broken == "int8":
        real = zoo.exports.device_copies.quantize_int8
        monkeypatch.setattr(zoo.exports.device_copies, "quantize_int8",
                            lambda m, c, mode: _shift_last_bias(real(m, c, mode), 50.0))
        message = r"int8/model.onnx failed validation: accuracy 0.1000 int8 vs 1.0000 float"
    else:
        real = zoo.exports.device_copies.fixed_batch
        monkeypatch.setattr(zoo.exports.device_copies, "fixed_batch", lambda m, b=1: _shift_last_bias(real(m, b), 50.0))
        message = r"batch1/model.onnx failed validation on the test split: max \|onnxruntime - Keras\|"
    with pytest.raises(ExportError, match=message):
        export_device_copies(model, folder, x, truth, expected, "probabilities", None, mobile=True, int8=True,
                             timing_seconds=0.02)
    assert snapshot(folder) == before  # neither the good copy nor the bad one was written


def test_device_copies_need_the_float_exports_test_vectors(tmp_path):
    folder, model, x, truth, expected = entry_folder(tmp_path, "iris_mlp")
    shutil.rmtree(folder / TEST_DATA_SET)
    with pytest.raises(ExportError, match="the float export must be written first"):
        export_device_copies(model, folder, x, truth, expected, "probabilities", None, mobile=True, int8=False)


def test_device_bench_measures_an_entry_end_to_end():
    """The measurement behind docs/mobile-int8-results.md, on an entry whose data is built in (Iris)."""
    from zoo.exports.device_bench import markdown, measure_entry

    result = measure_entry("iris_mlp", EXPORTS, None, seconds=0.02, rounds=1)
    assert result["test_samples"] == 38 and result["chosen"] == "dynamic"
    assert set(result["int8"]) == {"static", "static, 8-bit weights", "dynamic"}
    assert not any(q["written_by_export"] for q in result["int8"].values())  # larger than float, both modes
    assert result["mobile"]["verdicts"]["batch_1"] == dict.fromkeys(MOBILE_EPS, "YES")
    assert all(v["passed"] for v in result["mobile"]["validation"].values())
    table = markdown([result], {"command": "c", "machine": "m", "date": "d", "onnxruntime": "o", "rounds": "1",
                               "threads": "1"})
    accuracy = json.loads((EXPORTS / "iris_mlp" / "report.json").read_text())["measured"]["value"]  # the float export's
    assert f"| `iris_mlp` | dynamic (chosen) | {100 * accuracy:.2f}% |" in table
    assert "NO / NO / NO | YES / YES / YES" in table


def test_zoo_export_mobile_int8_writes_validated_copies_and_records_them(trained_runs, tmp_path, capsys):
    """`zoo export --mobile --int8` end to end: the copies in their folders, in the report and the manifest, and
    every model file of the export passes the ONNX Model Zoo's recipe on the test vectors beside it."""
    from zoo.cli import main
    from zoo.files import sha256_file
    from zoo.exports.manifest import read_manifest

    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    code = main(["export", "mnist_mlp", "--mobile", "--int8", "--out", str(exports),
                 "--data-dir", str(trained_runs.parent / "data")])
    assert code == 0, capsys.readouterr().err
    folder = exports / "mnist_mlp"
    report = json.loads((folder / "report.json").read_text())
    assert report["onnx"]["mobile"]["usability"]["verdicts"] == dict.fromkeys(MOBILE_EPS, "YES")
    assert report["onnx"]["int8"]["mode"] == "dynamic" and report["onnx"]["int8"]["validation"]["passed"]
    entry = read_manifest(exports)["entries"]["mnist_mlp"]
    for name in (B1_ONNX, B1_ORT, INT8_ONNX):
        assert entry["files"][f"mnist_mlp/{name}"]["sha256"] == sha256_file(folder / name)
    assert entry["mobile"]["usable"] and entry["int8"]["mode"] == "dynamic"
    assert "Mobile (batch fixed to 1)" in (folder / "report.md").read_text()
    assert "its batch-1 copy is not rated usable" not in capsys.readouterr().err  # rated YES everywhere: no note
    recorded = {key.removeprefix("mnist_mlp/") for key in entry["files"]}
    assert {str(p.relative_to(folder)) for p in folder.rglob("*.pb")} <= recorded  # every copy's vectors too
    replayed = replay_model_zoo_layout(folder)
    assert set(replayed) == {"model.onnx", "end_to_end/model.onnx", B1_ONNX, B1_ORT, INT8_ONNX}, replayed
    assert replayed[B1_ONNX] == replayed[B1_ORT] == len(list(folder.glob("batch1/test_data_set_*"))) > 1


def replay_model_zoo_layout(folder: Path) -> dict[str, int]:
    """The ONNX Model Zoo's recipe, with onnx and onnxruntime alone: for every model file (.onnx, .ort) under
    ``folder``, feed each test_data_set_*/input_*.pb beside it and compare with its output_*.pb; returns
    file -> data sets replayed."""
    from onnx import numpy_helper

    def tensor(path: Path):
        proto = onnx.TensorProto()
        proto.ParseFromString(path.read_bytes())
        return proto.name, numpy_helper.to_array(proto)

    replayed = {}
    for model in sorted([*folder.rglob("*.onnx"), *folder.rglob("*.ort")]):
        sets = sorted(model.parent.glob("test_data_set_*"))
        assert sets, f"{model} has no test_data_set_* beside it"
        sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        for data_set in sets:
            feeds = dict(tensor(p) for p in sorted(data_set.glob("input_*.pb")))
            expected = [tensor(p) for p in sorted(data_set.glob("output_*.pb"))]
            actual = sess.run(None, feeds)
            assert [name for name, _ in expected] == names[:len(expected)], (model, data_set)
            for (name, want), got in zip(expected, actual):
                assert want.dtype == got.dtype and want.shape == got.shape, (model, data_set, name)
                np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5, err_msg=f"{model} {data_set} {name}")
        replayed[str(model.relative_to(folder))] = len(sets)
    return replayed


def test_a_batch1_copy_not_usable_everywhere_is_said_on_the_terminal():
    from zoo.exports.device_summary import mobile_note

    facts = {"mobile": {"usability": {"usable": False, "verdicts": {"NNAPI": "NO", "CoreML": "MAYBE"}}}}
    assert mobile_note(facts) == ("its batch-1 copy is not rated usable on every mobile execution provider by "
                                  "onnxruntime's checker (NNAPI NO, CoreML MAYBE); it still runs on onnxruntime's "
                                  "CPU provider (report.md has the details)")
    assert mobile_note({"mobile": {"usability": {"usable": True, "verdicts": {"NNAPI": "YES"}}}}) is None
    assert mobile_note({}) is None
