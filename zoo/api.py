"""zoo's Python API: the few functions a notebook, a script, the CLI, the benchmarks and the tests all call.

    import zoo
    zoo.list_models("mnist_*")                 # names
    zoo.card("mnist_cnn")                      # the entry's facts and reference result
    zoo.create_model("mnist_cnn", trained=True)  # a compiled keras.Model with the reference weights
    zoo.load_onnx("mnist_cnn").predict(pixels)   # onnxruntime on raw 28x28 uint8 images
    run = zoo.train("iris_mlp", epochs=5)      # what `zoo run` does; run.report, run.model, run.folder

Importing zoo imports none of Keras, TensorFlow or onnxruntime: each function imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.plugins import load_registry
from zoo.specs import DatasetSpec, ModelSpec, Splits

if TYPE_CHECKING:
    import keras

    from zoo.cards import ModelCard
    from zoo.exports.predict import OnnxExport
    from zoo.registry import PluginInfo
    from zoo.run import Run



def list_models(pattern: str = "*", *, dataset: str | None = None, task: str | None = None,
                tag: str | None = None, plugin: str | None = None) -> list[str]:
    """Names of the registered models matching the fnmatch ``pattern`` and the filters, sorted.

    A filter naming a dataset or plugin that does not exist raises UnknownNameError with the closest names.
    """
    return [spec.name for spec in load_registry().list_models(pattern, dataset=dataset, task=task, tag=tag,
                                                              plugin=plugin)]


def get_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` of ``name``; an unknown name raises UnknownNameError with the closest names."""
    return load_registry().model(name)


def get_dataset(name: str) -> DatasetSpec:
    """The ``DatasetSpec`` of dataset ``name``; an unknown name raises UnknownNameError."""
    return load_registry().dataset(name)


def load_dataset(name: str, *, data_dir: str | Path | None = None) -> Splits:
    """Dataset ``name``'s raw train and test arrays, from the first place that has them (``zoo datasets``).

    For a plugin's ``build()`` that adapts a preprocessing layer on the training data, say
    ``normalization.adapt(zoo.load_dataset("iris").x_train)``.
    """
    from zoo.datasets import load_dataset as load

    return load(get_dataset(name), data_dir)


def get_plugin(name: str) -> PluginInfo:
    """What plugin ``name`` is (distribution, version), what it registered, and what went wrong."""
    return load_registry().plugin(name)


def plugin_of(name: str) -> PluginInfo:
    """The plugin that registered model ``name``."""
    registry = load_registry()
    return registry.plugin(registry.owner(registry.model(name)))


def create_model(name: str, *, trained: bool = False) -> keras.Model:
    """``name``'s network, built and compiled as its spec says.

    With ``trained=True`` it carries the reference weights its plugin ships (zoo's own entries: trained on
    the full data by zoo's maintainers), read from a file checked against that set's manifest and loaded
    in Keras' safe mode; no dataset is needed.
    """
    from zoo.build import compile_model

    spec, plugin = get_spec(name), plugin_of(name)
    model = compile_model(spec, plugin)
    if trained:
        weights = _reference_model(name).get_weights()
        try:
            model.set_weights(weights)
        except (ValueError, TypeError) as exc:  # the shipped weights no longer fit the network build() makes
            raise ZooError(f"the reference weights of {name!r} do not fit the network its build() makes "
                           f"({str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}); "
                           f"train it with zoo.train({name!r}) and use that run's model") from exc
    return model


def _reference_model(name: str) -> keras.Model:
    from zoo.exports.manifest import MODEL_FILE
    from zoo.reference_sets import reference_root
    from zoo.run import load_saved_model

    registry = load_registry()
    spec = registry.model(name)
    root = reference_root(name, registry, fetch=True)
    if root is None or not (root / name / MODEL_FILE).is_file():
        raise ZooError(f"no reference weights for {name!r}: its plugin ships none (or they failed their checks, as "
                       f"warned); train it with zoo.train({name!r}) (or 'zoo run {name}') and use that run's model")
    plugin = registry.plugins[registry.owner(spec)]
    fix = "reinstall zoo" if plugin.builtin else f"reinstall {plugin.package or 'its plugin'}"
    return load_saved_model(root / name / MODEL_FILE, fix, compile=False, spec=spec)


def load_onnx(name: str, *, out: str | Path | None = None) -> OnnxExport:
    """The checked onnxruntime session of ``name``'s ONNX export, with ``.predict(raw)`` and ``.metadata``.

    From the reference set shipped with zoo, unless ``out`` names a folder of runs (an entry the
    reference set lacks, a plugin's, comes from the user's runs).
    """
    from zoo.exports.predict import open_export

    return open_export(name, out)


def train(name: str, *, out: str | Path | None = None, data_dir: str | Path | None = None,
          epochs: int | None = None, batch_size: int | None = None, seed: int = 0, device: str = "auto",
          resume: bool = False, verbose: str | int = "auto", mobile: bool = False, int8: bool = False,
          distribute: str = "none", scale_batch: bool = False, cpu_devices: int | None = None,
          backend: str | None = None, precision: str = "auto") -> Run | None:
    """What ``zoo run NAME`` does: train, evaluate, export and report ``name``; returns the Run.

    Saved to ``out`` (default: the user's runs folder, ``zoo.locations.runs_dir()``). ``mobile`` and
    ``int8`` add the device-sized copies of the export. When the ONNX export fails the run is kept,
    ``run.export_failed`` says why, and a ZooWarning says so.

    ``distribute="data-parallel"`` trains on every local device (or on the workers ``TF_CONFIG`` /
    ``KERAS_DISTRIBUTION_*`` describe; then every worker calls this, and only the chief gets the Run,
    the others None); it must come before anything in the process has used TensorFlow or JAX.
    ``cpu_devices`` splits the CPU into that many logical devices, as ``ZOO_CPU_DEVICES`` does.

    ``backend`` is chosen as ``zoo run --backend`` chooses (``auto``, ``tensorflow``, ``jax``, ``torch``), except
    that its default, None, asks for none: the run trains under Keras' own choice (``KERAS_BACKEND``, else Keras'
    config file, else TensorFlow), where ``zoo run``'s default is ``auto``. Keras fixes its backend for the
    whole process when it is first imported, and ``train`` runs in the caller's process, so:

    - before anything has imported Keras, ``train`` sets ``KERAS_BACKEND`` to the chosen backend, which then
      holds for the rest of the process (later calls find Keras imported under it);
    - once Keras is imported, ``auto`` keeps that backend and the report says so (``environment.backend_choice``),
      and an explicit backend other than it raises ZooError: use ``zoo run NAME --backend B``, which trains in
      a child process, instead.

    ``precision`` is chosen as ``zoo run --precision`` chooses (``auto``, ``float32``, ``mixed_bfloat16``); with no
    backend asked for, ``auto`` trains in float32.
    """
    import warnings

    from zoo.errors import ZooWarning
    from zoo.run import RunOptions, run_model

    options = RunOptions(epochs=epochs, batch_size=batch_size, seed=seed, device=device, data_dir=data_dir,
                         out=Path(out) if out is not None else None, verbose=verbose, resume=resume, mobile=mobile,
                         int8=int8,
                         backend_choice=_backend_for(name, backend, device, distribute != "none", precision))
    distribution = None
    if distribute != "none" or cpu_devices is not None:
        from zoo.distributed.engines import setup_distribution
        from zoo.distributed.distribution import DistributeSettings

        distribution = setup_distribution(DistributeSettings(distribute, scale_batch=scale_batch,
                                                             logical_cpus=cpu_devices), device=device)
    run = run_model(name, options, distribution=distribution)
    if run is not None and run.export_failed:
        warnings.warn(ZooWarning(f"{name}: trained and saved to {run.folder}, but its ONNX export failed: "
                                 f"{run.export_failed}"), stacklevel=2)
    return run


def _backend_for(name: str, backend: str | None, device: str, distributed: bool = False,
                 precision: str = "auto") -> dict[str, str] | None:
    """``train``'s backend and precision: chosen as ``zoo run --backend`` and ``--precision`` choose, the backend
    set for Keras if it is not imported yet."""
    if backend is None and precision == "auto":
        return None
    import os
    import sys

    from zoo import backend_choice
    from zoo.errors import ZooError

    kind = backend_choice.device_kind(device)
    choice = backend_choice.choose(name, backend, kind, distributed=distributed, precision=precision)
    here = backend_choice.configured_backend()
    if choice.backend == here:
        return choice.record()
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = choice.backend  # Keras reads it when it is first imported, in run_model
        return choice.record()
    label = backend_choice.LABELS.get
    if backend == "auto":  # a choice of speed only: train under the backend this process already has
        kept = backend_choice.choose(name, here, kind, precision=precision).precision  # as measured for this backend
        return backend_choice.Choice(here, "auto", f"{choice.why}; but Keras was already imported under "
                                                   f"{label(here, here)} in this process, so {label(here, here)}",
                                     precision=kept).record()
    raise ZooError(f"backend={backend!r}: Keras was already imported under {label(here, here)} in this process and "
                   f"cannot switch; call zoo.train before anything imports Keras, or run 'zoo run {name} "
                   f"--backend {backend}'")


def load_run(name: str, *, out: str | Path | None = None, data_dir: str | Path | None = None) -> Run:
    """The earlier run of ``name`` saved under ``out`` (default: the user's runs folder), scored again."""
    from zoo.run import load_run as load

    return load(name, out, data_dir)


def card(name: str, *, out: str | Path | None = None, build: bool = True) -> ModelCard:
    """One entry's facts: headline metric and the reference result beside the tutorial's number and the
    user's latest run (in ``out``, default the user's runs folder), parameters, MACs, the ONNX file,
    preprocessing, fit settings, where the files are.

    Read from the reports, without Keras; only an entry with no report at all is built (``build``) to
    count its parameters, which also shows whether its ``build()`` works.
    """
    from zoo.cards import make_card

    return make_card(get_spec(name), plugin_of(name), out=out, build=build)
