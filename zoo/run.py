"""One entry end to end: load its data, train, evaluate, save the model, its ONNX export and its report.

``zoo run`` and ``zoo.train`` come through ``run_model``; ``zoo export``, ``zoo report NAME`` and
``zoo.load_run`` work on an earlier run saved on disk (``load_run``).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import commit, environment, files, locations
from zoo.build import check_data
from zoo.datasets import load_dataset
from zoo.distributed.train import train_distributed, worker_backup_folder
from zoo.errors import ExportError, TrainingError, ZooError, ZooWarning, first_line
from zoo.evaluate import Evaluation, evaluate, predict
from zoo.exports.convert_child import converter_prestarted
from zoo.exports.export import ExportRequest, export_onnx
from zoo.lazy_tensorflow import tensorflow_unimported
from zoo.plots import write_plots
from zoo.plugins import load_registry
from zoo.precision import FLOAT32
from zoo.prepare import Prepared, prepare
from zoo.registry import Registry
from zoo.report import build_report, read_report, write_report
from zoo.specs import DatasetSpec, ModelSpec, Splits
from zoo.time_to_target import TargetClock, not_timed, target_clock
from zoo.training import TrainResult, TrainSettings, train

if TYPE_CHECKING:
    import keras

    from zoo.distributed.distribution import Distribution


@dataclass(frozen=True)
class RunOptions:
    """What ``zoo run`` lets a user change; None keeps the model's own setting."""

    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    device: str = "auto"
    data_dir: str | Path | None = None
    out: Path | None = None  # None: the user's runs folder, zoo.locations.runs_dir()
    verbose: str | int = "auto"
    resume: bool = False  # continue an interrupted run of the entry from its last finished epoch
    mobile: bool = False  # also a batch-1 copy of the export and its ORT-format file (zoo.exports.device_copies)
    int8: bool = False  # also an int8 copy, validated on the whole test split
    export: bool = True  # False: model and reports only, no ONNX export (``zoo run --no-export``)
    other_seeds: Any = None  # a zoo.seeds.SeedRuns: the spread over it and this run goes into the report
    # Why this process's backend trains the entry (zoo.backend_choice.Choice.record()); None: no --backend asked.
    backend_choice: dict[str, str] | None = None

    @property
    def out_dir(self) -> Path:
        """Where the run's folder goes."""
        return Path(self.out) if self.out is not None else locations.runs_dir()


@dataclass
class Run:
    """A trained entry: its spec, its data, the model, its scores and report, and its folder.

    ``run_model`` makes one by training; ``load_run`` makes one from an earlier run on disk
    (then ``trained`` is None and ``evaluation`` is computed again from the saved model).
    In a notebook it shows as its report, figures included.
    """

    spec: ModelSpec
    dataset: DatasetSpec
    splits: Splits
    data: Prepared
    model: keras.Model
    evaluation: Evaluation
    report: dict[str, Any]
    folder: Path
    trained: TrainResult | None = None
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def export_failed(self) -> str | None:
        """Why this run's ONNX export failed, or None (exported, or skipped under another backend)."""
        return (self.report.get("onnx") or {}).get("failed")

    def _repr_html_(self) -> str:
        from zoo.web.notebook import report_html

        return report_html(self.report, self.folder)


def run_model(name: str, options: RunOptions = RunOptions(), registry: Registry | None = None,
              distribution: Distribution | None = None) -> Run | None:
    """Train and evaluate the model ``name``, then save ``model.keras``, its validated ONNX export and its
    report under ``options.out_dir``, and record the export in its ``manifest.json``.

    Training is never lost to a later step: when the export fails, the model and report are still
    saved (the report says why under ``"onnx": {"failed": ...}``) and ``zoo export NAME`` can retry.
    Under a ``distribution`` (``zoo.distributed.engines.setup_distribution``) every worker trains and only the
    chief evaluates and writes; the others return None, having written nothing into ``out``.
    """
    registry = registry or load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    folder = options.out_dir / spec.name
    chief = distribution is None or distribution.is_chief
    if chief:
        _writable(folder)
    with _training_alone(folder) if chief else contextlib.nullcontext(), \
            converter_prestarted(_converts_in_child(spec, options, chief)):
        return _run_model(spec, dataset, folder, options, registry, distribution)


def _converts_in_child(spec: ModelSpec, options: RunOptions, chief: bool) -> bool:
    """Whether this run's export will convert in a TensorFlow child process (zoo.exports.convert_child), which is
    then started before training, to import TensorFlow and tf2onnx meanwhile: the export is wanted, written here
    (the chief), under another backend than TensorFlow, with TensorFlow and tf2onnx installed."""
    if not (chief and options.export) or environment.backend() == "tensorflow":
        return False
    from zoo.exports.convert import unavailable_reason

    return unavailable_reason(spec.name) is None


@contextlib.contextmanager
def _training_alone(folder: Path) -> Iterator[None]:
    """One training run of an entry per runs folder at a time: two would share, and discard, one resume backup.

    The lock file lives in the temp folder, named after the entry's folder, so the runs folder holds only runs.
    """
    import hashlib
    import tempfile

    from zoo.folder_lock import claimed

    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with claimed(Path(tempfile.gettempdir()) / f"zoo-training-{tag}-{folder.name}.lock") as alone:
        if not alone:
            raise ZooError(f"another 'zoo run {folder.name}' is training into {folder.parent}; wait for it to "
                           "finish, or pass another --out")
        yield


def _run_model(spec: ModelSpec, dataset: DatasetSpec, folder: Path, options: RunOptions, registry: Registry,
               distribution: Distribution | None) -> Run | None:
    chief = distribution is None or distribution.is_chief
    backup = resume_folder(worker_backup_folder(folder, distribution) if distribution else folder, options.resume)
    plugin = registry.plugin(registry.owner(spec))
    splits = load_dataset(dataset, options.data_dir)
    check_data(spec, splits.x_train, plugin)
    data = prepare(spec, dataset, splits)
    chosen = backend_record(options.backend_choice)
    settings = TrainSettings.of(spec, epochs=options.epochs, batch_size=options.batch_size, seed=options.seed,
                                precision=chosen.get("precision") or FLOAT32)
    clock, untimed = _target_clock(spec, data, settings, options, distribution)
    try:
        if distribution is not None and distribution.engine is not None:
            trained = train_distributed(spec, data, settings, distribution, verbose=options.verbose,
                                        backup_dir=backup, plugin=plugin)
        else:
            trained = train(spec, data, settings, device=options.device, verbose=options.verbose, backup_dir=backup,
                            plugin=plugin, callbacks=[clock] if clock else None)
    except TrainingError as exc:
        if not chief:
            raise
        raise TrainingError(f"{exc} (details: {write_failure(folder, spec, exc)})") from exc
    if not chief:
        return None
    evaluation = evaluate(spec, dataset, trained.model, data)
    report = build_report(spec, dataset, splits, trained, evaluation, plugin=plugin,
                          distribution=distribution_record(distribution, settings.batch_size, trained),
                          time_to_target=clock.record() if clock else not_timed(spec, untimed))
    report["environment"]["backend_choice"] = chosen
    if options.other_seeds is not None:
        from zoo.seeds import summarize

        others = options.other_seeds
        report["seeds"] = summarize({options.seed: report, **others.wait()}, (options.seed, *others.seeds),
                                    others.jobs)
    result = Run(spec, dataset, splits, data, trained.model, evaluation, report, folder, trained)
    # Everything is written into a staging folder that replaces the entry's folder only when
    # complete: an interrupted or failed run leaves the previous one as it was.
    try:
        with commit.writing(folder.parent), files.staged_folder(folder) as staging:
            written = write_artifacts(result, staging, options)
            commit.commit(staging, folder, result.report)
    except OSError as exc:
        raise ZooError(f"cannot write the run of {spec.name} to {folder}: {exc.strerror or exc}; nothing there "
                       "was changed. Free some disk space or choose another --out") from exc
    _record_history(folder.parent, result.report)
    result.paths = {key: folder / name for key, name in written.items()}
    return result


def _record_history(out: Path, report: dict[str, Any]) -> None:
    """One line for the run in ``out/history.jsonl`` (the leaderboard's history charts); a failure to write it
    is a warning, the run being saved already."""
    from zoo.run_history import RunRecord, append_run

    try:
        append_run(out, RunRecord.from_report(report))
    except OSError as exc:
        warnings.warn(ZooWarning(f"the run is saved, but its line in {out / 'history.jsonl'} was not written: "
                                 f"{exc.strerror or exc}"), stacklevel=2)


def _target_clock(spec: ModelSpec, data: Prepared, settings: TrainSettings, options: RunOptions,
                  distribution: Distribution | None) -> tuple[TargetClock | None, str]:
    """The run's time-to-target clock, or None and why the run is not timed."""
    if spec.time_target is None:
        return None, "no quality target: the tutorial reports no accuracy and the entry states none"
    if options.resume:
        return None, "a resumed run: its first epochs ran in another process"
    if distribution is not None and distribution.engine is not None:
        return None, "a data-parallel run: scoring mid-training would have to run on every worker"
    return target_clock(spec, data, settings), ""


def distribution_record(distribution: Distribution | None, batch_size: int, trained: TrainResult) -> dict[str, Any]:
    """What report.json records under ``"distribution"``: the strategy, backend, replicas, workers and batch sizes."""
    if distribution is None:
        from zoo.distributed.distribution import single_process_record

        return single_process_record(environment.backend(), batch_size)
    return {**distribution.record(batch_size), "dropped_train_samples": trained.dropped_train_samples}


def _writable(folder: Path) -> None:
    try:
        files.check_writable(folder.parent)
    except OSError as exc:
        raise ZooError(f"cannot write to {folder.parent}: {exc.strerror or exc}; choose another --out") from exc


def resume_folder(folder: Path, resume: bool) -> Path:
    """Where training of ``folder``'s entry keeps its per-epoch backup, made ready for a fresh or resumed run.

    Without ``resume`` a backup left by an interrupted run is discarded (with a warning); with it,
    the backup must exist.
    """
    backup = folder.with_name(f".{folder.name}.resume")
    if resume and not backup.is_dir():
        raise ZooError(f"--resume: no interrupted run of {folder.name} in {folder.parent} to resume; "
                       "run it without --resume")
    if not resume and backup.exists():
        warnings.warn(ZooWarning(f"discarding the backup of an interrupted run of {folder.name}; "
                                 "pass --resume to continue it instead"), stacklevel=2)
        shutil.rmtree(backup)
    return backup


def backend_record(chosen: dict[str, str] | None) -> dict[str, str]:
    """``environment.backend_choice``: the backend this process trains under, in which precision, what was asked
    and why (``chosen`` where it is for this process's backend, else Keras' own choice, in float32)."""
    from zoo.backend_choice import current

    here = environment.backend()
    if chosen and chosen.get("backend") == here:
        return dict(chosen)
    return current().record() | {"backend": here}


def write_failure(folder: Path, spec: ModelSpec, error: TrainingError) -> Path:
    """Record a failed training run in ``folder/failed-run.json``, leaving any earlier run untouched."""
    result = getattr(error, "result", None)
    path = folder / "failed-run.json"
    with commit.writing(folder.parent):
        _write_failure(path, spec, error, result)
    return path


def _write_failure(path: Path, spec: ModelSpec, error: TrainingError, result: TrainResult | None) -> None:
    files.write_json(path, files.finite({
        "schema": "zoo.failure/1", "model": spec.name, "error": str(error),
        "history": result.history if result else {},
        "settings": vars(result.settings) if result else {},
        "backend": environment.backend(), "versions": environment.versions(), "created": environment.now(),
    }))


def write_artifacts(result: Run, folder: Path, options: RunOptions = RunOptions()) -> dict[str, str]:
    """Write every file of a run into ``folder``; returns {kind: file name}.

    A failed export is recorded in the report and the rest is written all the same.
    """
    written = {"model": save_model(result.model, folder / "model.keras").name}
    if options.export:
        written.update(add_export(result, folder, keep_going=True, mobile=options.mobile, int8=options.int8))
    else:
        result.report["onnx"] = {"skipped": "zoo run --no-export"}
    written.update(write_report_files(result, folder))
    return written


def add_export(result: Run, folder: Path, *, keep_going: bool, mobile: bool = False, int8: bool = False
               ) -> dict[str, str]:
    """Export ``result``'s model into ``folder`` (with its ``mobile`` and ``int8`` copies when asked) and record
    the facts in its report.

    Without TensorFlow and tf2onnx installed, the report says the export was skipped. With
    ``keep_going`` a failed export is recorded as ``{"failed": reason}`` (failed copies as
    ``"device_copies": {"failed": reason}`` beside a valid float export); without, it raises.
    """
    from zoo.exports.convert import unavailable_reason

    reason = unavailable_reason(result.spec.name)
    if reason:
        result.report["onnx"] = {"skipped": reason}
        return {}
    request = export_request(result)
    try:
        facts = export_onnx(result.model, request, folder)
    except ExportError as exc:
        if not keep_going:
            raise
        from zoo.exports.convert import UnconvertibleModelError

        result.report["onnx"] = {"failed": str(exc), "retry_can_help": not isinstance(exc, UnconvertibleModelError)}
        return {}
    # The run's training backend, which a later `zoo export` under another backend must not overwrite.
    trained = result.report.get("environment", {}).get("backend") or facts["conversion"]["keras_backend"]
    facts["conversion"] = {"trained_backend": trained, **facts["conversion"]}
    result.report["onnx"] = facts
    copies = add_device_copies(result, folder, request, facts, mobile=mobile, int8=int8, keep_going=keep_going)
    end_to_end = facts.get("end_to_end", {})
    return {"onnx": facts["file"], **{f"onnx_{Path(p).stem}": p for p in facts["test_data_set"]["files"]},
            **({"onnx_end_to_end": end_to_end["file"]} if end_to_end else {}),
            **{f"onnx_{name.replace('/', '_').replace('.', '_')}": name for name in copies}}


def add_device_copies(result: Run, folder: Path, request: ExportRequest, facts: dict[str, Any], *, mobile: bool,
                      int8: bool, keep_going: bool) -> list[str]:
    """The batch-1/ORT and int8 copies of the export in ``folder`` (``zoo.exports.device_copies``); their file names.

    Their facts go into ``facts`` (the report's "onnx"), their files into its ``extra_files`` for the manifest.
    """
    if not (mobile or int8):
        return []
    import onnx

    from zoo.exports.device_copies import export_device_copies
    from zoo.exports.quantize import calibration_sample

    try:
        copies = export_device_copies(onnx.load(folder / facts["file"]), folder, request.x_test, request.truth,
                                      request.expected, result.spec.outputs,
                                      calibration_sample(result.data.x_train) if int8 else None, mobile=mobile,
                                      int8=int8)
    except ExportError as exc:
        if not keep_going:
            raise
        facts["device_copies"] = {"failed": str(exc)}
        return []
    facts.update({key: copies[key] for key in ("mobile", "int8") if key in copies},
                 extra_files=[*copies["files"], *copies["vector_files"]])
    return copies["files"]


def export_request(result: Run) -> ExportRequest:
    """What the exporter needs to know about a run besides its model."""
    outputs = result.evaluation.outputs
    if outputs is None or len(outputs) != len(result.data.x_test):
        outputs = predict(result.model, result.data.x_test)
    env = result.report.get("environment", {})
    keras_version = env.get("versions", {}).get("keras", "?")
    return ExportRequest(result.spec, result.dataset, result.data.x_test, result.data.truth, outputs,
                         tuple(result.splits.x_test.shape[1:]), str(result.splits.x_test.dtype),
                         result.evaluation.primary, f"keras {keras_version} ({env.get('backend', '?')} backend)",
                         x_raw=result.splits.x_test)


def write_report_files(result: Run, folder: Path) -> dict[str, str]:
    """Draw the run's plots into ``folder/plots``, then write report.json, report.md and report.html (``write_report``).

    The plots come first so the report can list them (``report["plots"]``: kind -> relative path).
    """
    result.report["plots"] = write_plots(result, folder / "plots")
    written = {f"plot_{kind}": path for kind, path in result.report["plots"].items()}
    json_path, md_path = write_report(result.report, folder)
    written["report_json"], written["report_md"] = json_path.name, md_path.name
    written["report_html"] = md_path.with_suffix(".html").name  # write_report writes it too
    return written


def save_model(model, dest: Path) -> Path:
    """Save ``model`` in the native ``.keras`` format, atomically (without importing TensorFlow under another backend:
    ``zoo.lazy_tensorflow``)."""
    with files.atomic_path(dest) as tmp, tensorflow_unimported():
        model.save(tmp)
    return dest


def load_run(name: str, out: str | Path | None = None, data_dir: str | Path | None = None,
             registry: Registry | None = None) -> Run:
    """The earlier run of ``name`` saved under ``out`` (default: the user's runs folder): its model (loaded
    in Keras' safe mode), its report, and the test data it is scored on, scored again."""
    registry = registry or load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    out = Path(out) if out is not None else locations.runs_dir()
    folder = out / spec.name
    report = read_report(folder)
    model_path = folder / "model.keras"
    if report is None or not model_path.is_file():
        raise ZooError(f"no finished run of {name!r} in {folder} (model.keras and report.json are needed); "
                       f"run 'zoo run {name} --out {out}' first")
    from zoo.cards import stale_reason

    stale = stale_reason(report, spec, registry.plugin(registry.owner(spec)))
    if stale:
        raise ZooError(f"the run in {folder} is not a run of today's {name!r}: {stale}; run it again with "
                       f"'zoo run {name} --out {out}'")
    model = load_saved_model(model_path, f"run 'zoo run {name} --out {out}' again", spec=spec)
    splits = load_dataset(dataset, data_dir)
    data = prepare(spec, dataset, splits)
    return Run(spec, dataset, splits, data, model, evaluate(spec, dataset, model, data), report, folder)


def load_saved_model(path: Path, fix: str, *, compile: bool = True, spec: ModelSpec | None = None) -> keras.Model:
    """``path`` loaded in Keras' safe mode, knowing ``spec``'s custom objects; a file it cannot load is a ZooError in
    one line ending with ``fix``."""
    import keras

    custom = _custom_objects(spec)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile, custom_objects=custom)
    except Exception as exc:  # Keras raises many kinds for a damaged, foreign or unsafe file
        text = str(exc)
        if "safe_mode" in text or "unsafe" in text:
            raise ZooError(f"{path}: holds Python code (a Lambda layer or similar), which zoo does not load: it loads "
                           "models in Keras' safe mode, since loading such code could run anything. If you trust the "
                           "file, load it yourself with keras.saving.load_model(path, safe_mode=False); else "
                           f"{fix}") from exc
        if "Could not locate" in text or "Unknown layer" in text:
            name = re.search(r"Could not locate (?:class|function) '(\w+)'|Unknown layer: '?(\w+)'?", text)
            name = name and next(group for group in name.groups() if group)
            declare = (f"declare it in the model's spec: custom_objects=lambda: {{{name!r}: {name}}}" if name else
                       "declare it in the model's spec's custom_objects")
            raise ZooError(f"{path}: uses a class Keras does not know in this process ({name or 'a custom object'}); "
                           f"{declare} (see docs/plugins.md: custom layers)") from exc
        raise ZooError(f"{path}: cannot load the saved model ({first_line(exc, 200)}); {fix}") from exc


def _custom_objects(spec: ModelSpec | None) -> dict[str, Any] | None:
    if spec is None or spec.custom_objects is None:
        return None
    try:
        return dict(spec.custom_objects())
    except Exception as exc:  # a plugin's code can raise anything
        raise ZooError(f"model {spec.name!r}: its custom_objects() raised {type(exc).__name__}: {exc}; fix the "
                       "plugin") from exc


def refresh_report(name: str, out: str | Path | None = None, data_dir: str | Path | None = None,
                   registry: Registry | None = None) -> Run:
    """Draw an earlier run's plots again and rewrite its report files; its model and exports stay as they are.

    The measured numbers stay those of the run: the report is rewritten, not re-measured.
    """
    out = Path(out) if out is not None else locations.runs_dir()
    # Locked from reading the run to recording it: a run or export finishing meanwhile is not overwritten.
    with commit.writing(out):
        result = load_run(name, out, data_dir, registry)
        with files.staged_folder(result.folder, copy_existing=True) as staging:
            shutil.rmtree(staging / "plots", ignore_errors=True)  # a figure that no longer applies must not linger
            written = write_report_files(result, staging)
            commit.commit(staging, result.folder, result.report)
    result.paths = {key: result.folder / path for key, path in written.items()}
    return result


def export_saved_run(name: str, out: str | Path | None = None, data_dir: str | Path | None = None,
                     registry: Registry | None = None, *, mobile: bool = False, int8: bool = False) -> Run:
    """``zoo export``: add the ONNX export to the earlier run of ``name`` saved under ``out``.

    All or nothing: the entry's folder is copied, the export and the updated report are written
    into the copy, and the copy replaces the folder only if everything succeeded.
    """
    from zoo.exports.convert import unavailable_reason

    reason = unavailable_reason(name)
    if reason:
        raise ExportError(reason)
    out = Path(out) if out is not None else locations.runs_dir()
    with commit.writing(out):
        run = load_run(name, out, data_dir, registry)
        with files.staged_folder(run.folder, copy_existing=True) as staging:
            written = add_export(run, staging, keep_going=False, mobile=mobile, int8=int8)
            json_path, md_path = write_report(run.report, staging)
            commit.commit(staging, run.folder, run.report)
    run.paths = {kind: run.folder / path for kind, path in
                 {**written, "report_json": json_path.name, "report_md": md_path.name}.items()}
    return run
