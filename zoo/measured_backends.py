"""Your own measurements of which backend trains an entry fastest, so ``--backend auto`` can choose for entries
zoo's shipped table has never seen (a plugin's).

Every ``zoo bench`` that times training records each entry's training samples/s under the backend it ran,
per device, in ``$ZOO_HOME/backend_rates.json``. Once an entry has been measured under two or more
backends on a device, ``zoo.backend_choice`` orders them from these figures, as it orders the built-in
entries from the shipped table (``zoo/backend_table.json``); your figures win where both have the entry,
since they were taken on your machine. Reads and writes JSON only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo.precision import FLOAT32, variant

FILE_NAME = "backend_rates.json"


def rates_file() -> Path:
    """``$ZOO_HOME/backend_rates.json``."""
    from zoo.locations import zoo_home

    return zoo_home() / FILE_NAME


def _read(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def record(results: Iterable[dict], path: Path | None = None) -> int:
    """Keep the training rates among ``zoo.bench`` results (``mode == "train"``), newest per entry, device and
    backend; returns how many were kept. The file is replaced atomically."""
    from zoo import files

    path = path or rates_file()
    rates = _read(path)
    kept = 0
    for r in results:
        value = r.get("samples_per_sec")
        if r.get("mode") != "train" or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            continue
        entry = rates.setdefault(str(r["device"]), {}).setdefault(str(r["model"]), {})
        # A mixed-precision rate is its own variant of the backend (zoo.precision.variant), ranked beside the rest.
        entry[variant(str(r["backend"]), str(r.get("precision") or FLOAT32))] = {"train_samples_per_sec": round(float(value), 1),
                                    "machine": str(r.get("device_name", "")),
                                    "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        kept += 1
    if kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_json(path, rates)
    return kept


def table(path: Path | None = None) -> dict[str, dict[str, dict]]:
    """Your measurements as rows of the shipped table's shape (``{device: {entry: {"order", ...}}}``), for the
    entries measured under two or more backends; malformed records are left out."""
    from zoo.backends import choice_row

    devices: dict[str, dict[str, dict]] = {}
    for device, entries in _read(path or rates_file()).items():
        for entry, by_backend in (entries.items() if isinstance(entries, dict) else ()):
            records = {b: rec for b, rec in (by_backend.items() if isinstance(by_backend, dict) else ())
                       if isinstance(rec, dict) and isinstance(rec.get("train_samples_per_sec"), int | float)}
            if len(records) < 2:
                continue
            machines = sorted({str(rec.get("machine", "")) for rec in records.values()} - {""})
            devices.setdefault(device, {})[entry] = choice_row(
                {b: rec["train_samples_per_sec"] for b, rec in records.items()},
                f"your zoo bench ({', '.join(machines) or 'this machine'})",
                max(str(rec.get("measured", "")) for rec in records.values()))
    return devices
