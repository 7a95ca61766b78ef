"""The ONNX exports committed under exports/: every built-in entry, as manifest.json records them, replaying.

These files are meant to be in the repository, so a missing manifest or export fails here rather
than skipping: run `zoo run --all` on the full data and commit exports/.
"""

import json
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest

from zoo.exports.compare import compare_outputs
from zoo.exports.convert import OPSET
from zoo.exports.export import read_tensor
from zoo.exports.manifest import read_manifest
from zoo.files import sha256_file
from zoo.exports.metadata import KEYS, OPTIONAL_KEYS, OnnxMetadata
from zoo.plugins import load_registry

EXPORTS = Path(__file__).resolve().parent.parent / "reference"
# Training samples in each dataset's full training split.
FULL_TRAIN = {"mnist": 60_000, "fashion_mnist": 60_000, "iris": 112, "functions": 1_000}
FIX = "run 'zoo run --all' (or 'zoo export --all') on the full data and commit exports/"


def builtin_entries() -> list[str]:
    registry = load_registry()
    return [spec.name for spec in registry.list_models()
            if registry.plugins[registry.owner(spec)].package == "zoo"]


@pytest.fixture(scope="module")
def manifest() -> dict:
    found = read_manifest(EXPORTS)
    assert found is not None, f"{EXPORTS / 'manifest.json'} is missing: {FIX}"
    return found


def test_manifest_lists_every_builtin_entry_and_every_file(manifest):
    assert set(manifest["entries"]) == set(builtin_entries()), FIX
    on_disk = {p.parent.name for p in EXPORTS.glob("*/model.onnx")}
    assert on_disk == set(manifest["entries"]), "an export on disk that manifest.json does not record"


@pytest.mark.parametrize("name", builtin_entries())
def test_committed_export_matches_manifest_and_replays(name, manifest):
    entry = manifest["entries"].get(name)
    assert entry is not None, f"manifest.json has no entry for {name}: {FIX}"
    for path, facts in entry["files"].items():
        file = EXPORTS / path
        assert file.is_file(), f"{file} is missing: {FIX}"
        assert (sha256_file(file), file.stat().st_size) == (facts["sha256"], facts["bytes"]), \
            f"{file} differs from manifest.json: {FIX}"

    folder = EXPORTS / name
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [entry["opset"]] == [OPSET]
    props = {p.key: p.value for p in model.metadata_props}
    assert set(KEYS) - OPTIONAL_KEYS <= set(props)  # the reference set predates the optional keys
    meta = OnnxMetadata.from_props(props)
    assert (meta.model_name, meta.input_name, meta.output_name) == (name, entry["input"]["name"],
                                                                     entry["output"]["name"])
    assert meta.metric_value == entry["metric"]["value"]

    report = json.loads((folder / "report.json").read_text())
    assert report["onnx"]["sha256"] == entry["files"][f"{name}/model.onnx"]["sha256"]
    assert report["data"]["n_train"] == FULL_TRAIN[report["dataset"]], f"{name} was not trained on the full data: {FIX}"
    assert report["training"]["epochs"] == load_registry().model(name).fit.epochs, f"{name}: epochs overridden"
    check = report["onnx"]["validation"]
    assert check["samples"] == report["data"]["n_test"] and check["samples"] >= min(1000, report["data"]["n_test"])
    assert check["max_scaled_diff"] <= check["tolerance"] and not check["class_mismatches"]

    # Replay the shipped test vectors: onnxruntime now against Keras' outputs at export time.
    x = read_tensor(folder / "test_data_set_0" / "input_0.pb")
    expected = read_tensor(folder / "test_data_set_0" / "output_0.pb")
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    actual = session.run([meta.output_name], {meta.input_name: x})[0]
    comparison = compare_outputs(expected, actual, meta.output_kind)
    assert comparison.passed, comparison.summary()
    if meta.task == "classification":
        assert len(x) == len(meta.class_names)  # one test sample of each class
