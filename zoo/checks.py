"""The conformance checks every entry should pass, a plugin's or zoo's own: ``zoo check`` and the pytest kit
(``zoo.testing.parametrize_with_checks``) run the same ones.

Each check takes a ``CheckedEntry`` and returns a short note, raises ``CheckSkipped`` with the reason it
does not apply, or raises ``CheckFailed`` with one line saying what is wrong. They use a few samples and
a few training steps: they say whether an entry works with zoo, not how well it learns.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError, ZooWarning, first_line
from zoo.registry import Registry

SAMPLES = 64  # training and test samples the checks use
STEPS = 4  # training steps of the training check
HEAVY_MODULES = ("keras", "tensorflow", "jax", "torch")


class CheckFailed(AssertionError):
    """An entry fails a check; the message says what is wrong and how to fix it, in one line."""


class CheckSkipped(Exception):
    """A check does not apply to an entry here (no dataset files, another Keras backend, no reference set)."""


@dataclass
class CheckedEntry:
    """One entry under check, with what its checks share: its data, and a model trained a few steps."""

    name: str
    registry: Registry
    data_dir: str | Path | None = None
    shared: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        return self.name

    @property
    def spec(self):
        return self.registry.model(self.name)

    @property
    def plugin(self):
        return self.registry.plugins[self.registry.owner(self.spec)]

    def splits(self):
        """The dataset's arrays (CheckSkipped when no copy of it is to be had)."""
        if "splits" not in self.shared:
            from zoo.datasets import load_dataset
            from zoo.errors import DataError

            try:
                self.shared["splits"] = load_dataset(self.registry.dataset(self.spec.dataset), self.data_dir)
            except DataError as exc:
                self.shared["splits"] = CheckSkipped(f"dataset {self.spec.dataset!r} not found ({str(exc)[:160]}…)")
        if isinstance(self.shared["splits"], CheckSkipped):
            raise self.shared["splits"]
        return self.shared["splits"]

    def data(self):
        """A few samples of each split, prepared as the model takes them."""
        if "data" not in self.shared:
            from zoo.prepare import prepare
            from zoo.specs import Splits

            full = self.splits()
            few = Splits(full.x_train[:SAMPLES], full.y_train[:SAMPLES], full.x_test[:SAMPLES],
                         full.y_test[:SAMPLES])
            self.shared["few"] = few
            self.shared["data"] = prepare(self.spec, self.registry.dataset(self.spec.dataset), few)
        return self.shared["data"]

    def model(self):
        """The entry's model, built, checked against its data and trained ``STEPS`` steps (the training check)."""
        if "model" not in self.shared:
            check_trains(self)
        return self.shared["model"]


def check_registered(entry: CheckedEntry) -> str:
    """The plugin loaded and registered the entry and its dataset without a problem."""
    plugin = entry.plugin
    if plugin.problems:
        raise CheckFailed(f"{plugin.describe()} had problems when loading: {plugin.error}")
    entry.registry.dataset(entry.spec.dataset)
    return f"{plugin.describe()}: model {entry.name!r} on dataset {entry.spec.dataset!r}"


def check_light_import(entry: CheckedEntry) -> str:
    """Importing the plugin imports none of Keras, TensorFlow, JAX or PyTorch (``zoo list`` must stay fast)."""
    loaded = _heavy_modules_at_import(entry.plugin.name)
    if loaded:
        raise CheckFailed(f"importing plugin {entry.plugin.name!r} imports {', '.join(loaded)}; import Keras inside "
                          "build() (and other heavy modules inside the functions that use them)")
    return "imports no deep-learning library"


@functools.cache
def _heavy_modules_at_import(plugin: str) -> tuple[str, ...]:
    code = ("import sys; from importlib.metadata import entry_points; "
            f"[ep.load() for ep in entry_points(group='zoo', name={plugin!r})]; "
            f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise CheckFailed(f"importing plugin {plugin!r} in a new process failed: "
                          f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return tuple(done.stdout.split())


def check_fits_dataset(entry: CheckedEntry) -> str:
    """``build()`` makes a model that takes the preprocessed samples, outputs one value per class or target,
    and whose loss and metrics fit its outputs and labels (the checks ``zoo run`` makes before training)."""
    from zoo.build import check_data, check_fits, compile_model

    data, spec = entry.data(), entry.spec
    try:
        check_data(spec, entry.shared["few"].x_train, entry.plugin)
        model = compile_model(spec, entry.plugin)
        check_fits(spec, model, data, entry.plugin)
    except ZooError as exc:
        raise CheckFailed(str(exc)) from exc
    entry.shared["untrained"] = model
    return f"takes {tuple(data.x_train.shape[1:])}, gives {model.output_shape[1:]}"


def check_trains(entry: CheckedEntry) -> str:
    """A few training steps on a few samples give a finite loss."""
    if "untrained" not in entry.shared:
        check_fits_dataset(entry)
    model, data = entry.shared["untrained"], entry.data()
    batch = max(1, len(data.x_train) // STEPS)
    history = model.fit(data.x_train, data.y_train, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    losses = history.history.get("loss", [])
    if not losses or not np.isfinite(losses).all():
        raise CheckFailed(f"{entry.name}: the loss after {STEPS} steps on {len(data.x_train)} samples is {losses}; "
                          "check the learning rate, the loss and the data for NaN")
    entry.shared["model"] = model
    return f"loss {losses[-1]:.4g} after {STEPS} steps"


def check_exports(entry: CheckedEntry) -> str:
    """The ONNX export of that model matches Keras on the checked samples by the export rule, and is written."""
    import keras

    from zoo.exports.convert import unavailable_reason
    from zoo.exports.export import ExportRequest, export_onnx

    reason = unavailable_reason(entry.name)
    if reason:
        raise CheckSkipped(reason)
    model, data, few, spec = entry.model(), entry.data(), entry.shared["few"], entry.spec
    expected = keras.ops.convert_to_numpy(model.predict(data.x_test, verbose=0))
    dataset = entry.registry.dataset(spec.dataset)
    if spec.task == "classification":
        metric = ("accuracy", float(np.mean(expected.argmax(axis=1) == data.truth)))
    else:
        from sklearn.metrics import r2_score

        metric = ("r2", float(r2_score(data.truth, expected.reshape(data.truth.shape))))
    request = ExportRequest(spec, dataset, data.x_test, data.truth, expected, tuple(few.x_test.shape[1:]),
                            str(few.x_test.dtype), metric, f"keras {keras.__version__} (zoo check)", x_raw=few.x_test)
    folder = Path(tempfile.mkdtemp(prefix=f"zoo-check-{entry.name}-"))
    weakref.finalize(entry, shutil.rmtree, folder, True)  # the metadata check reads the export; then it goes
    try:
        facts = export_onnx(model, request, folder)
    except ZooError as exc:
        raise CheckFailed(f"{entry.name}: {exc}") from exc
    entry.shared["export"] = folder / facts["file"]
    validation = facts["validation"]
    return f"{validation['samples']} samples, max |onnxruntime - keras| {validation['max_abs_diff']:.2g}"


def check_metadata(entry: CheckedEntry) -> str:
    """The export's metadata round-trips, and preprocessing the raw samples by it gives the model's inputs."""
    import onnx

    from zoo.exports.metadata import OnnxMetadata

    if "export" not in entry.shared:
        check_exports(entry)
    props = {p.key: p.value for p in onnx.load(entry.shared["export"], load_external_data=False).metadata_props}
    metadata = OnnxMetadata.from_props(props, str(entry.shared["export"]))
    if metadata.to_props() != props or metadata.model_name != entry.name:
        raise CheckFailed(f"{entry.name}: the export's metadata does not round-trip through OnnxMetadata")
    fed = metadata.preprocess(entry.shared["few"].x_test)
    if not np.allclose(fed, entry.data().x_test.reshape(fed.shape), rtol=1e-6, atol=1e-6):
        raise CheckFailed(f"{entry.name}: preprocessing raw samples as the metadata says ({metadata.preprocessing}) "
                          "does not give what the model was fed; declare the preprocessing in the spec's Preprocess")
    return f"{len(props)} keys; {metadata.preprocessing}"


def check_reference_set(entry: CheckedEntry) -> str:
    """A shipped reference set passes its manifest, its test vectors replay, and its report matches its export."""
    from zoo.reference_sets import reference_root, shipped_sets

    declared = [s for s in shipped_sets(entry.registry) if s.package == entry.plugin.package]
    if not declared:
        raise CheckSkipped(f"{entry.plugin.package or entry.plugin.name} ships no reference set")
    unbuilt = [s.root for s in declared if s.declared.folder is not None and not (s.root / "manifest.json").exists()]
    if len(unbuilt) == len(declared):
        raise CheckSkipped(f"the reference set declared at {unbuilt[0]} is not built yet: build it with "
                           f"'zoo reference {entry.plugin.name} --dest {unbuilt[0]}'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = reference_root(entry.name, entry.registry, fetch=True)
    refused = [str(w.message) for w in caught if issubclass(w.category, ZooWarning)]
    if root is None:
        raise CheckFailed(refused[0] if refused else f"{entry.plugin.package}'s reference set has no results for "
                          f"{entry.name!r}; rebuild it with 'zoo reference {entry.plugin.name} --dest DIR'")
    return _replay(root / entry.name, entry.name)


def _replay(folder: Path, name: str) -> str:
    from zoo.exports.compare import compare_outputs
    from zoo.exports.export import read_tensor
    from zoo.exports.metadata import OnnxMetadata
    from zoo.exports.runtime import open_session, run_onnx

    session = open_session((folder / "model.onnx").read_bytes())
    metadata = OnnxMetadata.from_props(session.get_modelmeta().custom_metadata_map, str(folder / "model.onnx"))
    x, y = read_tensor(folder / "test_data_set_0" / "input_0.pb"), read_tensor(folder / "test_data_set_0" /
                                                                              "output_0.pb")
    comparison = compare_outputs(y, run_onnx(session, x), metadata.output_kind)
    if not comparison.passed:
        raise CheckFailed(f"{name}: the shipped test vectors do not replay: {comparison.summary()}")
    _replay_end_to_end(folder, name)
    report = json.loads((folder / "report.json").read_text())
    measured = report["measured"]
    if (measured["metric"], measured["value"]) != (metadata.metric_name, metadata.metric_value):
        raise CheckFailed(f"{name}: the shipped report says {measured['metric']} {measured['value']}, its export's "
                          f"metadata {metadata.metric_name} {metadata.metric_value}; rebuild the set")
    return f"{len(x)} test vectors replay; {measured['metric']} {measured['value']:.4g}"


def _replay_end_to_end(folder: Path, name: str) -> None:
    """The shipped end_to_end/model.onnx gives its test vectors' outputs on their raw inputs (sets of earlier zoo
    versions have none: nothing to replay)."""
    from zoo.exports.compare import compare_outputs
    from zoo.exports.end_to_end import run_end_to_end
    from zoo.exports.export import read_tensor
    from zoo.exports.manifest import END_TO_END_FILE, END_TO_END_TEST_DATA_SET
    from zoo.exports.runtime import open_session

    vectors = folder / END_TO_END_TEST_DATA_SET
    if not (folder / END_TO_END_FILE).is_file():
        return
    try:
        actual = run_end_to_end(open_session((folder / END_TO_END_FILE).read_bytes()),
                                read_tensor(vectors / "input_0.pb"))
    except Exception as exc:  # onnxruntime's errors share no base class; a missing or damaged file too
        raise CheckFailed(f"{name}: the shipped end-to-end test vectors do not replay ({first_line(exc, 200)})") \
            from exc
    expected = [read_tensor(p) for p in sorted(vectors.glob("output_*.pb"))]
    kind = "probabilities" if len(expected) == 2 else "values"
    comparison = compare_outputs(expected[0], actual[0], kind)
    if not comparison.passed:
        raise CheckFailed(f"{name}: the shipped end-to-end test vectors do not replay: {comparison.summary()}")
    if kind == "probabilities" and not np.array_equal(actual[1], expected[1]):
        raise CheckFailed(f"{name}: the shipped end-to-end test vectors do not replay: its class output differs "
                          f"from {END_TO_END_TEST_DATA_SET}/output_1.pb")


CHECKS: dict[str, Callable[[CheckedEntry], str]] = {
    "registered": check_registered, "light_import": check_light_import, "fits_dataset": check_fits_dataset,
    "trains": check_trains, "exports": check_exports, "metadata": check_metadata,
    "reference_set": check_reference_set,
}


@dataclass
class CheckResult:
    """What one check said of one entry."""

    entry: str
    check: str
    status: str  # passed, failed, skipped
    message: str
    seconds: float


def run_check(entry: CheckedEntry, name: str) -> CheckResult:
    """Run check ``name`` on ``entry``; any exception is a failure, said in one line."""
    start = time.perf_counter()
    try:
        status, message = "passed", CHECKS[name](entry)
    except CheckSkipped as exc:
        status, message = "skipped", str(exc)
    except (CheckFailed, ZooError) as exc:
        status, message = "failed", (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    except Exception as exc:  # a plugin's code can raise anything, and that is what a check is for
        status, message = "failed", first_line(exc)
    return CheckResult(entry.name, name, status, message, time.perf_counter() - start)


def run_checks(names: list[str], registry: Registry, data_dir: str | Path | None = None,
               checks: tuple[str, ...] = tuple(CHECKS)) -> Iterator[CheckResult]:
    """Every check on every entry named, entry by entry."""
    for name in names:
        entry = CheckedEntry(name, registry, data_dir)
        for check in checks:
            yield run_check(entry, check)
