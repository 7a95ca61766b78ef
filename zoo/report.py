"""A run's report: ``report.json`` for programs, ``report.md`` for people."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zoo import environment, files
from zoo.specs import DatasetSpec, ModelSpec, Splits

if TYPE_CHECKING:
    from zoo.evaluate import Evaluation
    from zoo.registry import PluginInfo
    from zoo.training import TrainResult

SCHEMA = "zoo.report/1"


def build_report(spec: ModelSpec, dataset: DatasetSpec, splits: Splits, trained: TrainResult,
                 evaluation: Evaluation, *, plugin: PluginInfo | None = None,
                 distribution: dict[str, Any] | None = None, time_to_target: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Everything a run measured, with the tutorial's number beside zoo's, and the code that produced it;
    ``time_to_target`` is ``zoo.time_to_target``'s record of the run."""
    from zoo.flops import count_macs

    metric, value = evaluation.primary
    macs = count_macs(trained.model)
    settings = trained.settings
    report = {
        "schema": SCHEMA,
        "model": spec.name, "dataset": dataset.name, "task": spec.task,
        "plugin": plugin.name if plugin else None,
        # The package (distribution) that installed the plugin, so a result can be traced to the code behind it.
        "package": {"name": plugin.package, "version": plugin.version} if plugin else None,
        "description": spec.description,
        "tutorial": {"title": spec.tutorial.title, "source": spec.tutorial.source},
        "reference": {"metric": spec.reference.metric, "value": spec.reference.value, "note": spec.reference.note},
        "measured": {"metric": metric, "value": value},
        "metrics": evaluation.metrics,
        "test_variants": evaluation.variants,
        "class_names": list(dataset.class_names),
        "per_class": evaluation.per_class,
        "confusion_matrix": evaluation.confusion,
        "per_target": evaluation.per_target,
        "history": trained.history,
        "time_to_target": time_to_target,
        "training": {
            "params": int(trained.model.count_params()), "macs": macs.total,
            # Layers with weights whose arithmetic "macs" leaves out (a custom layer, say), so the total is not
            # taken for the whole network's.
            "macs_uncounted": list(macs.uncounted),
            "epochs": settings.epochs, "batch_size": settings.batch_size,
            "steps_per_epoch": settings.steps_per_epoch, "seed": settings.seed,
            "steps_per_execution": trained.steps_per_execution, "precision": settings.precision,
            "train_samples": trained.train_samples, "resumed_from_epoch": trained.resumed_from_epoch,
            "train_seconds": trained.train_seconds, "wall_seconds": trained.wall_seconds,
            "train_samples_per_sec": trained.samples_per_sec,
            "optimizer": spec.compile.optimizer, "loss": spec.compile.loss,
            "preprocess": spec.preprocess.describe(), "one_hot_labels": spec.one_hot,
            "augmented": spec.augment is not None, "target": spec.target,
        },
        "distribution": distribution,
        "environment": {
            "device": {"kind": trained.device.kind, "name": trained.device.name},
            "backend": environment.backend(), "versions": environment.versions(),
            "zoo_version": environment.versions()["zoo"], "git_commit": environment.git_commit(),
            "platform": platform.platform(),
        },
        "data": {"origin": splits.origin, "checksums_sha256": dict(splits.files),
                 "n_train": len(splits.x_train), "n_test": len(splits.x_test)},
        "created": environment.now(),
        "command": " ".join(["zoo", *sys.argv[1:]]) if Path(sys.argv[0]).name == "zoo" else None,
    }
    return files.finite(report)


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``folder``, each atomically, and ``report.html`` beside them.

    The HTML copy is written here so that every path that rewrites the report keeps it in step.
    """
    from zoo.web.webpage import write_report_html

    json_path, md_path = folder / "report.json", folder / "report.md"
    files.write_json(json_path, report)
    files.write_text(md_path, render_markdown(report))
    write_report_html(md_path)
    return json_path, md_path


def read_report(folder: Path) -> dict[str, Any] | None:
    """The report in ``folder``, or None if there is none or it is not a zoo report."""
    from zoo.commit import settle

    settle(folder.parent)
    try:
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("schema") == SCHEMA else None


def format_metric(metric: str, value: float | None) -> str:
    """``97.88%`` for accuracy, ``0.0123`` for other metrics, ``—`` for none."""
    if value is None:
        return "—"
    return f"{value:.2%}" if metric == "accuracy" else f"{value:.4g}"


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: result beside the tutorial's, plots, then training, classes, history, provenance."""
    measured, reference, training, env = (report["measured"], report["reference"], report["training"],
                                          report["environment"])
    lines = [f"# {report['model']}", "", report["description"], "",
             f"Dataset `{report['dataset']}` · task {report['task']} · plugin `{report['plugin']}`{_package(report)} · "
             f"tutorial: {report['tutorial']['title']} ({report['tutorial']['source']})", "",
             "## Result", "", "| | zoo | tutorial |", "|---|---|---|"]
    ref_value = reference["value"] if reference["metric"] == measured["metric"] else None
    lines.append(f"| {measured['metric']} | {format_metric(measured['metric'], measured['value'])} | "
                 f"{format_metric(measured['metric'], ref_value)} |")
    for key, value in report["metrics"].items():
        if key != measured["metric"]:
            lines.append(f"| {key} | {format_metric(key, value)} | |")
    lines += ["", f"Tutorial: {reference['note']}" if reference["note"] else ""]
    for name, scores in report["test_variants"].items():
        lines.append(f"On the **{name}** test set: " + ", ".join(f"{k} {format_metric(k, v)}" for k, v in scores.items()))
    lines += _time_to_target(report.get("time_to_target"), measured["metric"])
    lines += _seeds(report.get("seeds"))
    lines += _plots(report.get("plots") or {})
    lines += ["", "## Training", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in training.items()]
    lines += _per_class(report) + _per_target(report) + _history(report["history"])
    lines += _onnx(report.get("onnx"), report["model"])
    lines += ["", "## Provenance", "", "| | |", "|---|---|",
              f"| device | {env['device']['kind']}: {env['device']['name']} |", _backend_row(env, training),
              *_distribution_row(report.get("distribution")),
              f"| versions | {', '.join(f'{k} {v}' for k, v in env['versions'].items())} |",
              f"| zoo commit | {env['git_commit'] or 'not a git checkout'} |", f"| platform | {env['platform']} |",
              f"| data | {report['data']['origin']} ({report['data']['n_train']} train, {report['data']['n_test']} test) |",
              f"| created | {report['created']} |", f"| command | `{report['command'] or 'library call'}` |", "",
              "Data checksums (sha256):", ""]
    lines += [f"- `{name}`: `{digest}`" for name, digest in report["data"]["checksums_sha256"].items()]
    return "\n".join(lines) + "\n"


def format_time_to_target(record: dict[str, Any] | None) -> str:
    """One line: how long training took to reach the entry's quality target, or why it is not known."""
    if not record:
        return "—"
    if record.get("not_timed"):
        return f"not timed: {record['not_timed']}"
    target = f"{record['metric']} ≥ {format_metric(record['metric'], record['target'])}"
    if not record["reached"]:
        return (f"{target} not reached in {record['total_steps']:,} steps (best "
                f"{format_metric(record['metric'], record['best'])})")
    return f"{target} after {record['seconds']:.1f} s of training, {record['steps']:,} steps ({record['epochs']:.2f} epochs)"


def _time_to_target(record: dict[str, Any] | None, metric: str) -> list[str]:
    if not record:
        return []
    lines = ["", "## Time to target", "", format_time_to_target(record) + "."]
    if record.get("evaluations"):
        lines += ["", f"Target: {record['note'] or 'the tutorial’s number'}. The test split was scored every "
                  f"{record['interval_steps']:,} training steps until the target was reached ({record['scoring_seconds']:.1f} s "
                  "of scoring, left out of the training time):", "",
                  "| step | training s | " + metric + " |", "|---|---|---|"]
        lines += [f"| {e['step']:,} | {e['seconds']:.2f} | {format_metric(metric, e['value'])} |"
                  for e in record["evaluations"]]
    return lines


def _seeds(record: dict[str, Any] | None) -> list[str]:
    if not record:
        return []
    metric, times = record["metric"], record.get("time_to_target") or {}
    lines = ["", "## Seeds", "", f"{len(record['seeds'])} seeds, {record['processes_at_once']} training at once; "
             f"{record['rule']}.", "", f"| seed | {metric} | time to target s | train samples/s |", "|---|---|---|---|"]
    rates = record["train_samples_per_sec"]["values"]
    for seed in map(str, record["seeds"]):
        if seed in record.get("failed", {}):
            lines.append(f"| {seed} | failed: {record['failed'][seed]} | | |")
            continue
        seconds = (times.get("values") or {}).get(seed)
        lines.append(f"| {seed} | {format_metric(metric, record['values'].get(seed))} | "
                     f"{'—' if seconds is None else f'{seconds:.1f}'} | {_rate(rates.get(seed))} |")
    lines.append(f"| **median (min–max)** | {format_spread(record, lambda v: format_metric(metric, v))} | "
                 f"{format_spread(times, format_seconds) if times else '—'} | "
                 f"{format_spread(record['train_samples_per_sec'], _rate)} |")
    if times:
        lines += ["", f"{times['reached']} of {times['of']} seeds reached the target; one that did not counts as "
                  "slower than any that did."]
    return lines


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def format_seconds(value: float | None) -> str:
    """A time to target in seconds, or "not reached" (None)."""
    return "not reached" if value is None else f"{value:.1f}"


def format_spread(record: dict[str, Any], shown: Callable[[float | None], str]) -> str:
    """``median (min–max)`` of a spread over seeds (``zoo.seeds.summarize``), each number as ``shown`` writes it."""
    return f"{shown(record['median'])} ({shown(record['min'])}–{shown(record['max'])})"


def _backend_row(env: dict[str, Any], training: dict[str, Any] | None = None) -> str:
    """The provenance row of the Keras backend (and the training precision where it was not float32), with why
    it was chosen where the report says."""
    why = (env.get("backend_choice") or {}).get("why")
    policy = (training or {}).get("precision") or "float32"
    mixed = "" if policy == "float32" else f", trained in {policy} (the model is float32)"
    return f"| Keras backend | {env['backend']}{mixed}{f' — {why}' if why else ''} |"


def _distribution_row(record: dict[str, Any] | None) -> list[str]:
    if not record or record.get("strategy", "none") == "none":
        return []
    batch = record["batch"]
    return [f"| data-parallel | {record['engine']}: {record['replicas']} replicas on {record['workers']} worker(s); "
            f"global batch {batch['global']}, {batch['per_replica']} per replica"
            f"{' (scaled with the replicas)' if batch['scaled_with_replicas'] else ''} |"]


def _package(report: dict[str, Any]) -> str:
    dist = report.get("package") or {}
    return f" ({' '.join(v for v in (dist.get('name'), dist.get('version')) if v)})" if dist.get("name") else ""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return json.dumps(value) if isinstance(value, dict) else str(value)


def _per_class(report: dict[str, Any]) -> list[str]:
    if not report["per_class"]:
        return []
    lines = ["", "## Per class", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in report["per_class"].items():
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1-score']:.3f} | "
                     f"{int(row['support'])} |")
    names = report["class_names"]
    lines += ["", "Confusion matrix (rows: true class, columns: predicted):", "",
              "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| **{names[i]}** | " + " | ".join(str(c) for c in row) + " |"
              for i, row in enumerate(report["confusion_matrix"])]
    return lines


def _per_target(report: dict[str, Any]) -> list[str]:
    targets = report.get("per_target") or {}
    if not targets:
        return []
    lines = ["", "## Per target", "", "The headline R² is the mean of the targets' R².", "",
             "| target | MSE | MAE | R² |", "|---|---|---|---|"]
    return lines + [f"| {name} | {row['mse']:.4g} | {row['mae']:.4g} | {row['r2']:.4f} |" for name, row in targets.items()]


def _history(history: dict[str, list[float]]) -> list[str]:
    if not history:
        return []
    keys = list(history)
    lines = ["", "## History", "", "| epoch | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for epoch in range(len(history[keys[0]])):
        cells = [f"{history[k][epoch]:.4f}" if history[k][epoch] is not None else "NaN" for k in keys]
        lines.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    return lines


def _plots(plots: dict[str, str]) -> list[str]:
    """The run's figures ({kind: path relative to report.md}), embedded under the numbers."""
    if not plots:
        return []
    lines = ["", "## Plots"]
    for kind, path in plots.items():
        lines += ["", f"![{kind.replace('_', ' ')}]({path})"]
    return lines


def _onnx(facts: dict[str, Any] | None, name: str) -> list[str]:
    """The ONNX export: its file, names, and how closely onnxruntime matched Keras."""
    if not facts:
        return []
    if "skipped" in facts:
        return ["", "## ONNX export", "", facts["skipped"]]
    if "failed" in facts:
        return ["", "## ONNX export", "", f"**Failed**: {facts['failed']}. The trained model is saved as "
                f"`model.keras`; retry with `zoo export {name}` once the cause is fixed."]
    check, inp, out = facts["validation"], facts["input"], facts["output"]
    classes = ("" if check["class_mismatches"] is None else
               f"; predicted class agrees on {check['samples'] - check['class_mismatches']:,} of {check['samples']:,}")
    lines = ["", "## ONNX export", "", "| | |", "|---|---|",
             f"| file | `{facts['file']}`, {facts['bytes']:,} bytes, sha256 `{facts['sha256']}` |",
             f"| opset | {facts['opset']} (IR version {facts['ir_version']}); {facts['exported_with']} |",
             f"| input | `{inp['name']}` float32 {_dims(inp['shape'])}, {inp['layout']}; "
             f"preprocessing: {inp['preprocessing']} |",
             f"| output | `{out['name']}` {_dims(out['shape'])} ({out['kind']}) |",
             f"| validation | onnxruntime vs Keras on {check['note']}: max abs difference {check['max_abs_diff']:.3g}, "
             f"scaled {check['max_scaled_diff']:.3g} (tolerance {check['tolerance']:g}){classes} |",
             f"| test vectors | `{facts['test_data_set']['folder']}/`: {len(facts['test_data_set']['test_indices'])} "
             f"test samples and Keras' outputs |"]
    if "conversion" in facts:
        c = facts["conversion"]
        lines.append(f"| converted | under {c['converted_backend']} in {c['converted_in']}, from weights trained under "
                     f"{c['trained_backend']} |")
    if "end_to_end" in facts:
        lines.append(_end_to_end_row(facts["end_to_end"]))
    if "mobile" in facts or "int8" in facts:
        from zoo.exports.device_summary import report_lines

        lines += ["", *report_lines(facts)]
    if "device_copies" in facts:
        lines += ["", f"- Device-sized copies failed: {facts['device_copies']['failed']}"]
    return lines


def _end_to_end_row(e2e: dict[str, Any]) -> str:
    """report.md's row for ``end_to_end/model.onnx``: raw samples in, probabilities and class (or y) out."""
    inp, outputs = e2e["input"], ", ".join(f"`{o['name']}` {o['dtype']} {_dims(o['shape'])}" for o in e2e["outputs"])
    return (f"| end to end | `{e2e['file']}`, {e2e['bytes']:,} bytes: raw `{inp['name']}` {inp['dtype']} "
            f"{_dims(inp['shape'])} in, {outputs} out; matches Keras on all {e2e['validation']['samples']:,} test "
            f"samples; test vectors in `{e2e['test_data_set']['folder']}/` |")


def _dims(shape: list[int | None]) -> str:
    return " × ".join("batch" if d is None else str(d) for d in shape)
