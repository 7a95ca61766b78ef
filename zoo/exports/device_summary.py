"""The device-sized copies' facts, condensed for ``manifest.json`` and ``report.md``.

Reads the dicts ``zoo.exports.device_copies.export_device_copies`` returns; needs nothing but the standard library,
so the manifest and the report can describe the copies without importing onnx or onnxruntime.
"""

from __future__ import annotations

from typing import Any

# Each copy in a folder of its own with its own test vectors (test_data_set_*), as the ONNX Model Zoo lays out
# models: a runner replays every test_data_set_* beside a model file against that file.
B1_FOLDER = "batch1"
B1_ONNX = f"{B1_FOLDER}/model.onnx"
B1_ORT = f"{B1_FOLDER}/model.ort"
INT8_FOLDER = "int8"
INT8_ONNX = f"{INT8_FOLDER}/model.onnx"


def manifest_summary(facts: dict[str, Any]) -> dict[str, Any]:
    """What ``manifest.json`` should record of ``export_device_copies``' facts (the files go under "files")."""
    summary: dict[str, Any] = {}
    if "mobile" in facts:
        mobile = facts["mobile"]
        summary["mobile"] = {"batch": mobile["batch"], "files": list(mobile["files"]),
                             "ort_optimization_style": mobile["ort_format"]["optimization_style"],
                             "usability": mobile["usability"]["verdicts"], "usable": mobile["usability"]["usable"],
                             "usability_dynamic_batch": mobile["usability_dynamic_batch"]["verdicts"]}
    if "int8" in facts:
        int8 = facts["int8"]
        summary["int8"] = int8 if "skipped" in int8 else {
            "file": int8["file"], "mode": int8["mode"], "metric": int8["validation"]["metric"],
            "float": int8["validation"]["float_value"], "int8": int8["validation"]["int8_value"],
            "bound": int8["validation"]["bound"], "top1_agreement": int8["validation"]["top1_agreement"],
            "size_ratio": int8["size_ratio"],
            "speedup": {batch: s["int8_speedup"] for batch, s in int8["speed"].items()}, "verdict": int8["verdict"]}
    return summary


def report_lines(facts: dict[str, Any]) -> list[str]:
    """Markdown lines for ``report.md``'s ONNX section, one per copy."""
    lines = []
    if "mobile" in facts:
        mobile = facts["mobile"]
        verdicts = ", ".join(f"{ep} {v}" for ep, v in mobile["usability"]["verdicts"].items())
        before = ", ".join(f"{ep} {v}" for ep, v in mobile["usability_dynamic_batch"]["verdicts"].items())
        sizes = ", ".join(f"`{name}` {f['bytes']:,} bytes" for name, f in mobile["files"].items())
        samples = mobile["validation"][B1_ONNX]["test_split"]["samples"]
        lines.append(f"- Mobile (batch fixed to 1): {sizes}; both match Keras on all {samples:,} test samples, "
                     f"one per run. onnxruntime's mobile checker: {verdicts} (with the dynamic batch: {before}).")
    if "int8" in facts:
        int8 = facts["int8"]
        if "skipped" in int8:
            lines.append(f"- int8: {int8['skipped']}.")
        else:
            lines.append(f"- int8 (`{int8['file']}`, {int8['mode']}): {int8['validation']['summary']}; "
                         f"{int8['verdict']}.")
    return lines


def mobile_note(facts: dict[str, Any]) -> str | None:
    """One line for the terminal when the batch-1 copy is not rated usable everywhere, else None: the verdicts
    are in report.json and report.md, but a user who asked for --mobile should not have to look there."""
    mobile = facts.get("mobile")
    if not mobile or mobile["usability"]["usable"]:
        return None
    verdicts = ", ".join(f"{ep} {v}" for ep, v in mobile["usability"]["verdicts"].items())
    return (f"its batch-1 copy is not rated usable on every mobile execution provider by onnxruntime's checker "
            f"({verdicts}); it still runs on onnxruntime's CPU provider (report.md has the details)")
