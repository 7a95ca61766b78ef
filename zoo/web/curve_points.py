"""A one-input regression entry's test split as (x, y) points: the true curve the playground draws.

The ONNX metadata says how to feed a model, not what the function it learned really is, and
the test vectors hold the model's own outputs. The truth is the dataset: this loads the
entry's test split through zoo's dataset code (as ``zoo run`` did) and checks it against the
sha256 the run's ``report.json`` recorded, so the page can say whether these are the very
points the run was scored on. Loading the registry imports Keras, so this module is imported
only when a page asks for the points, and each answer is kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

MAX_POINTS = 2000
_lock = threading.Lock()


class PointsError(ZooError):
    """An entry whose test points cannot be given."""


def curve_points(folder: Path, data_dir: str | Path | None = None) -> dict[str, Any]:
    """``{"x", "y", "target", "origin", "matches_run", "note"}`` for the entry exported in ``folder``."""
    report_path = Path(folder) / "report.json"
    try:
        stamp = report_path.stat().st_mtime_ns
    except OSError:
        raise PointsError(f"{report_path} is missing, so the entry's dataset is unknown") from None
    with _lock:  # one dataset load at a time; the server answers requests in threads
        return _points(str(report_path), stamp, None if data_dir is None else str(data_dir))


@functools.lru_cache(maxsize=32)
def _points(report_path: str, stamp: int, data_dir: str | None) -> dict[str, Any]:
    import numpy as np

    from zoo.datasets import load_dataset
    from zoo.plugins import load_registry

    try:
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PointsError(f"{report_path}: unreadable ({exc})") from exc
    if report.get("task") != "regression":
        raise PointsError(f"{report.get('model')} is not a regression entry; it has no curve")
    spec = load_registry().dataset(report["dataset"])
    splits = load_dataset(spec, data_dir)
    x = np.asarray(splits.x_test).reshape(len(splits.x_test), -1)
    if x.shape[1] != 1:
        raise PointsError(f"{report['model']} takes {x.shape[1]} values per sample; a curve needs one")
    y = _target_column(np.asarray(splits.y_test), spec.target_names, (report.get("training") or {}).get("target"))
    matches, note = _matches_run(splits, report)
    keep = np.argsort(x[:, 0], kind="stable")[:MAX_POINTS]
    return {"x": x[keep, 0].astype(float).tolist(), "y": y[keep].astype(float).tolist(),
            "target": (report.get("training") or {}).get("target") or (spec.target_names or ["y"])[0],
            "origin": splits.origin, "test_samples": int(len(x)), "matches_run": matches, "note": note}


def _target_column(y, target_names: tuple[str, ...], target: str | None):
    """The column of ``y`` the entry was trained to predict."""
    if y.ndim == 1:
        return y
    if y.shape[1] == 1:
        return y[:, 0]
    if target not in target_names:
        raise PointsError(f"the dataset has targets {', '.join(target_names)} and the report names {target!r}")
    return y[:, target_names.index(target)]


def _matches_run(splits, report: dict[str, Any]) -> tuple[bool | None, str]:
    """Whether the test split loaded now is the run's, by the sha256 its report recorded."""
    recorded = (report.get("data") or {}).get("checksums_sha256") or {}
    if not {"x_test", "y_test"} <= set(recorded):
        return None, "the run recorded checksums of files, not arrays, so these points are not checked against it"
    import numpy as np

    same = all(hashlib.sha256(np.ascontiguousarray(getattr(splits, part)).tobytes()).hexdigest() == recorded[part]
               for part in ("x_test", "y_test"))
    return same, ("the run's own test split (sha256 checked)" if same else
                  "the test split loaded now differs from the one the run was scored on (sha256)")
