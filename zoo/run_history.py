"""``<out>/history.jsonl``: one JSON line per finished ``zoo run``, the leaderboard's metric history.

Every run appends its record (``append_run``); nothing rewrites the file, so runs on other commits, machines
and backends accumulate beside each other. Several ``zoo run`` processes may append at once: each line goes
out in a single ``write`` to a file opened for appending, which the kernel does not interleave. A line that
cannot be read (a crash mid-write, an edit by hand) is skipped with a warning (``read_runs``). JSON only:
no TensorFlow or Keras import.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooWarning

HISTORY = "history.jsonl"


class RunHistoryWarning(ZooWarning):
    """A line of history.jsonl that is not a run record, skipped."""


@dataclass(frozen=True)
class RunRecord:
    """One finished run of an entry: when, on what, and what it measured."""

    entry: str
    finished: str  # ISO 8601, UTC
    commit: str | None  # zoo's git commit (``+dirty`` when modified), None outside a checkout
    machine: str
    backend: str
    seed: int
    metric_name: str
    metric_value: float | None
    train_samples_per_sec: float | None = None
    time_to_target_s: float | None = None

    @classmethod
    def from_report(cls, report: dict[str, Any], *, finished: str | None = None,
                    machine: str | None = None) -> RunRecord:
        """The record of a run from its report (``zoo.report.build_report``); ``finished`` defaults to now,
        ``machine`` to the report's device name and this host's name."""
        env, training = report.get("environment") or {}, report.get("training") or {}
        measured = report.get("measured") or {}
        return cls(
            entry=report["model"], finished=finished or _now(), commit=env.get("git_commit"),
            machine=machine or this_machine(report), backend=str(env.get("backend") or "?"),
            seed=int(training.get("seed") or 0), metric_name=str(measured.get("metric") or "?"),
            metric_value=_number(measured.get("value")),
            train_samples_per_sec=_number(training.get("train_samples_per_sec")),
            time_to_target_s=_time_to_target(report.get("time_to_target")))

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """The record in a parsed line; ValueError naming the first field that is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"a JSON object expected, not {type(data).__name__}")
        values = {field.name: _field(data, field.name) for field in dataclasses.fields(cls)}
        return cls(**values)

    def to_line(self) -> bytes:
        """The record as one line of JSON, newline included."""
        return (json.dumps(dataclasses.asdict(self), ensure_ascii=False, allow_nan=False) + "\n").encode()


# Per field: the types it may hold (None last where missing is allowed) and whether it must be set.
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "entry": (str,), "finished": (str,), "commit": (str, type(None)), "machine": (str,), "backend": (str,),
    "seed": (int,), "metric_name": (str,), "metric_value": (float, type(None)),
    "train_samples_per_sec": (float, type(None)), "time_to_target_s": (float, type(None)),
}


def _field(data: dict[str, Any], name: str) -> Any:
    kinds = FIELD_TYPES[name]
    if name not in data and type(None) not in kinds:
        raise ValueError(f"no {name!r}")
    value = data.get(name)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    finite = not isinstance(value, float) or math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, kinds) or not finite:
        raise ValueError(f"{name!r} is {value!r}")
    if name == "finished":
        datetime.datetime.fromisoformat(value)  # ValueError when it is not a date
    return value


def append_run(out: Path, record: RunRecord) -> None:
    """Add ``record`` as a line at the end of ``<out>/history.jsonl`` (created if missing), on disk on return.

    One ``os.write`` to a file opened with O_APPEND: concurrent appenders' lines never interleave. A last line
    left without its newline (a writer killed mid-line) is closed first, so only that line is lost.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    line = record.to_line()
    fd = os.open(out / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and _last_byte(out / HISTORY, size) != b"\n":
            line = b"\n" + line
        written = os.write(fd, line)
        while written < len(line):  # only on a full disk or a signal: finish the line rather than leave half
            written += os.write(fd, line[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(size - 1)
        return file.read(1)


def read_runs(out: Path) -> list[RunRecord]:
    """Every record in ``<out>/history.jsonl``, in file order ([] without the file); a line that is not a
    record is skipped with one RunHistoryWarning naming it."""
    path = Path(out) / HISTORY
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(RunRecord.from_dict(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            warnings.warn(RunHistoryWarning(f"{path}:{number}: skipped a line that is not a run record ({exc})"),
                          stacklevel=2)
    return records


def this_machine(report: dict[str, Any]) -> str:
    """``AMD EPYC (2 cores), vm``: the report's device name and this host's name."""
    device = ((report.get("environment") or {}).get("device") or {}).get("name")
    return ", ".join(str(v) for v in (device, platform.node()) if v) or "?"


def _time_to_target(record: Any) -> float | None:
    """Seconds of training to the quality target (``zoo.time_to_target``'s record), None if not reached or not timed."""
    return _number(record.get("seconds")) if isinstance(record, dict) and record.get("reached") else None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
