"""``zoo export --triton DIR``: every shipped entry as a Triton model repository, checked against Triton's schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from onnx import numpy_helper

from zoo.cli import main
from zoo.exports.manifest import END_TO_END_FILE, END_TO_END_TEST_DATA_SET
from zoo.exports.triton import TritonError, write_triton_model

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient (the test extra) holds Triton's ModelConfig schema")

REFERENCE = Path(__file__).resolve().parent.parent / "reference"
ENTRIES = sorted(json.loads((REFERENCE / "manifest.json").read_text())["entries"])
NUMPY_TYPES = {"TYPE_FP32": np.float32, "TYPE_UINT8": np.uint8, "TYPE_INT64": np.int64, "TYPE_INT32": np.int32}


def parse_config(folder: Path):
    config = model_config_pb2.ModelConfig()
    text_format.Parse((folder / "config.pbtxt").read_text(), config)
    return config


def read_vectors(folder: Path, prefix: str) -> list[np.ndarray]:
    tensors = []
    for path in sorted(folder.glob(f"{prefix}_*.pb")):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(path.read_bytes())
        tensors.append(numpy_helper.to_array(tensor))
    return tensors


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("triton")
    for name in ENTRIES:
        write_triton_model(REFERENCE, name, repo)
    return repo


@pytest.mark.parametrize("name", ENTRIES)
def test_each_entry_is_a_triton_model_its_test_vectors_run_through(repository, name):
    folder = repository / name
    config = parse_config(folder)
    assert config.name == name and config.platform == "onnxruntime_onnx" and config.max_batch_size == 256
    assert config.dynamic_batching.max_queue_delay_microseconds > 0
    model = folder / "1" / "model.onnx"
    assert model.read_bytes() == (REFERENCE / name / END_TO_END_FILE).read_bytes()
    # Triton feeds the model what the config declares: a batch of the vectors' raw samples, its dtype, its dims.
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    vectors = REFERENCE / name / END_TO_END_TEST_DATA_SET
    (raw,) = read_vectors(vectors, "input")
    (declared_in,) = config.input
    type_name = model_config_pb2.DataType.Name(declared_in.data_type)
    assert raw.dtype == NUMPY_TYPES[type_name] and tuple(declared_in.dims) == raw.shape[1:]
    outputs = session.run([o.name for o in config.output], {declared_in.name: raw})
    for declared, got, want in zip(config.output, outputs, read_vectors(vectors, "output"), strict=True):
        assert got.dtype == NUMPY_TYPES[model_config_pb2.DataType.Name(declared.data_type)]
        shape = tuple(declared.reshape.shape) if declared.HasField("reshape") else tuple(declared.dims)
        assert got.shape == (len(raw), *shape)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    labels = folder / "labels.txt"
    class_names = json.loads(session.get_modelmeta().custom_metadata_map["class_names"])
    if class_names:
        assert labels.read_text().splitlines() == class_names
        labelled = [o for o in config.output if o.label_filename]
        assert [o.name for o in labelled] == ["probabilities"] and labelled[0].dims == [len(class_names)]
    else:
        assert not labels.exists() and not any(o.label_filename for o in config.output)


def test_the_cli_writes_a_repository_and_refuses_device_copies(tmp_path, capsys):
    repo = tmp_path / "models"
    assert main(["export", "mnist_cnn", "iris_mlp", "--triton", str(repo), "--max-batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "tritonserver --model-repository=" in out
    assert sorted(p.name for p in repo.iterdir()) == ["iris_mlp", "mnist_cnn"]
    assert parse_config(repo / "iris_mlp").max_batch_size == 64
    assert main(["export", "mnist_cnn", "--triton", str(repo), "--int8"]) == 1
    assert "drop --mobile/--int8" in capsys.readouterr().err


def copy_entry(tmp_path: Path, name: str) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(REFERENCE / name, root / name)
    manifest = json.loads((REFERENCE / "manifest.json").read_text())
    manifest["entries"] = {name: manifest["entries"][name]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_a_changed_or_missing_end_to_end_file_is_refused_and_the_old_model_kept(tmp_path):
    root = copy_entry(tmp_path, "iris_mlp")
    repo = tmp_path / "models"
    write_triton_model(root, "iris_mlp", repo)
    before = (repo / "iris_mlp" / "config.pbtxt").read_text()
    with (root / "iris_mlp" / END_TO_END_FILE).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(TritonError, match=r"differs from .* in .*manifest.json; the file was changed after export"):
        write_triton_model(root, "iris_mlp", repo, max_batch_size=8)
    (root / "iris_mlp" / END_TO_END_FILE).unlink()
    with pytest.raises(TritonError, match=r"end_to_end/model.onnx: no ONNX export of 'iris_mlp'; make one with 'zoo export iris_mlp"):
        write_triton_model(root, "iris_mlp", repo, max_batch_size=8)
    assert (repo / "iris_mlp" / "config.pbtxt").read_text() == before
    assert sorted(p.name for p in repo.iterdir()) == ["iris_mlp"]  # no staging folder left


def test_a_graph_without_a_dynamic_batch_axis_is_refused(tmp_path):
    from zoo.exports.triton import graph_tensors

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    with pytest.raises(TritonError, match="no dynamic batch axis"):
        graph_tensors(onnx.helper.make_model(graph).SerializeToString(), tmp_path / "model.onnx")


def test_a_class_name_with_a_line_break_is_refused():
    from zoo.exports.triton import labels_text

    assert labels_text({"class_names": '["a", "b"]'}, Path("m")) == "a\nb\n"
    assert labels_text({"class_names": "[]"}, Path("m")) is None
    with pytest.raises(TritonError, match="line break"):
        labels_text({"class_names": '["a", "b\\nc"]'}, Path("m"))
