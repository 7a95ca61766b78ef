"""``zoo bench compare``: two runs of the benchmark suite side by side, and a gate on slowdowns.

Reads pytest-benchmark JSON only (no TensorFlow, Keras or registry import). Per case and figure it shows
both runs' values and the change, and fails (exit code 1) when a case got slower than its threshold allows.
Rates are compared relative to the calibration timed beside each case (``zoo.calibration``; extra_info
``relative``) when both runs have it, since absolute rates on a shared machine swing threefold from day to
day; otherwise the absolute rates, saying so. zoo's speedup over plain Keras (``steady_speedup``) is a
ratio of two sides timed in alternating rounds, so it is compared as it is ("paired"), as are zoo's ratios to
the plain PyTorch and plain Keras scripts (speed, and peak memory: lower is better).

Thresholds are allowed slowdown fractions: ``DEFAULT_THRESHOLDS`` here (fnmatch patterns on case ids such
as ``test_throughput/iris_mlp-train-cpu``, first match wins, else ``DEFAULT_THRESHOLD``), overridden per
case by ``[tool.zoo.bench.thresholds]`` in pyproject.toml (its patterns are tried first).
"""

from __future__ import annotations

import fnmatch
import json
import math
import platform
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ZooError

# Allowed slowdown (fraction of the baseline's figure lost) before a case fails, set above the spread of
# unchanged code between three short runs on the shared 2-core VM (README: "Comparing two runs"; relative
# figures): training rates moved up to 20% (median 10%), zoo/plain up to 16%, inference rates up to 52%
# (median 16-18%: a round of a light model's inference lasts milliseconds).
DEFAULT_THRESHOLD = 0.30
DEFAULT_THRESHOLDS: dict[str, float] = {
    "*-infer_*": 0.60,
}
PYPROJECT_TABLE = ("tool", "zoo", "bench", "thresholds")


class CompareError(ZooError):
    """Two runs cannot be compared (a file missing or unreadable, no run with that id, a bad threshold)."""


@dataclass(frozen=True)
class Figure:
    """A figure the gate compares: an extra_info key, and which way is better."""

    key: str
    higher_is_better: bool = True
    calibrated: bool = True  # False: already relative to something timed beside it (compared as it is)


# zoo against the plain scripts (benchmarks/test_peers.py): ratios of sides timed, or measured, side by side.
FIGURES = (Figure("samples_per_sec"), Figure("steady_speedup", calibrated=False),
           Figure("zoo_over_torch", calibrated=False), Figure("zoo_over_keras", calibrated=False),
           Figure("memory_over_keras", higher_is_better=False, calibrated=False))


@dataclass(frozen=True)
class Run:
    """One benchmark run: its file, its date and its cases' extra_info by case id."""

    path: Path
    created: str
    cases: dict[str, dict]
    commit: str | None = None  # the git commit benchmarked, ``+dirty`` when it had uncommitted changes
    machine: str = ""  # ``machine_name``


@dataclass(frozen=True)
class Change:
    """One figure of one case in both runs, and whether it got slower than ``threshold`` allows."""

    case: str
    figure: str
    basis: str  # "relative", "absolute" or "paired"
    baseline: float
    new: float
    threshold: float
    higher_is_better: bool = True

    @property
    def change(self) -> float:
        """new / baseline - 1: +0.10 is 10% more."""
        return self.new / self.baseline - 1

    @property
    def slowdown(self) -> float:
        """The fraction of the baseline lost (negative: faster): for a rate 1 - new/baseline."""
        return -self.change if self.higher_is_better else self.change

    @property
    def regressed(self) -> bool:
        """Slower than the threshold allows."""
        return self.slowdown > self.threshold

    def message(self) -> str:
        """The one-line verdict on a regression."""
        return (f"regression: {self.case} {self.figure} ({self.basis}): {_num(self.baseline)} -> {_num(self.new)} "
                f"({self.change:+.1%}), slower than the threshold allows ({self.threshold:.0%} slowdown)")


@dataclass(frozen=True)
class Comparison:
    """Every compared figure, and the notes on what could not be compared as asked."""

    baseline: Run
    new: Run
    changes: list[Change]
    notes: list[str]

    @property
    def regressions(self) -> list[Change]:
        """The changes slower than their thresholds."""
        return [c for c in self.changes if c.regressed]


def machine_id() -> str:
    """The folder pytest-benchmark's storage uses for this machine, e.g. ``Linux-CPython-3.11-64bit``."""
    return "-".join([platform.system(), platform.python_implementation(),
                     ".".join(platform.python_version_tuple()[:2]), platform.architecture()[0]])


def default_storage() -> Path:
    """``benchmarks/results`` of the current directory, else of the source checkout zoo runs from."""
    here = Path("benchmarks/results")
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def default_config() -> Path | None:
    """The pyproject.toml with the thresholds: the current directory's, else the checkout's (None: neither)."""
    for path in (Path("pyproject.toml"), Path(__file__).resolve().parent.parent / "pyproject.toml"):
        if path.is_file():
            return path
    return None


def _runs_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def resolve_runs(baseline: str | None, new: str | None, storage: Path) -> tuple[Path, Path]:
    """The two files to compare: each a JSON file's path or a run id (``0005``, or a prefix of a saved
    run's file name) in ``storage``; by default the two newest runs of this machine (baseline the older)."""
    if baseline is not None and new is not None:
        return resolve_run(baseline, storage), resolve_run(new, storage)
    folder = storage / machine_id()
    runs = _runs_in(folder)
    if baseline is not None:
        if not runs:
            raise CompareError(f"no runs in {folder} to compare {baseline} with; name the NEW file too")
        return resolve_run(baseline, storage), runs[-1]
    if len(runs) < 2:
        raise CompareError(f"{len(runs)} run(s) in {folder}, 2 needed; run `tox -e bench` again or name "
                           f"BASELINE and NEW (files, or run ids in --storage)")
    return runs[-2], runs[-1]


def resolve_run(ref: str, storage: Path) -> Path:
    """A JSON file's path, or the one run in ``storage`` whose file name starts with ``ref`` (this
    machine's folder first, then every folder)."""
    path = Path(ref)
    if path.is_file():
        return path
    if ref.endswith(".json") or "/" in ref:
        raise CompareError(f"{ref}: no such file; give a pytest-benchmark JSON file or a run id in {storage}")
    for folder in (storage / machine_id(), *sorted(p for p in storage.glob("*") if p.is_dir())):
        found = [p for p in _runs_in(folder) if p.name.startswith(ref) or p.name.partition("_")[2].startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CompareError(f"run id {ref} is ambiguous in {folder} ({', '.join(p.name for p in found)}); "
                               "give more of the file name")
    raise CompareError(f"no run {ref} in {storage}; give a pytest-benchmark JSON file or the number of a saved "
                       "run (e.g. 0005)")


def case_id(benchmark: Mapping) -> str:
    """``test_throughput/iris_mlp-train-cpu``: the test function and its parameters' id (no brackets, so
    fnmatch patterns read plainly)."""
    name = str(benchmark.get("name", ""))
    function, _, rest = name.partition("[")
    param = benchmark.get("param") or rest.rstrip("]")
    return f"{function}/{param}" if param else function


def load_run(path: Path) -> Run:
    """The cases of a pytest-benchmark JSON file; CompareError (one line, naming the fix) if it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CompareError(f"{path}: cannot read it ({exc.strerror or exc}); give a pytest-benchmark JSON file") from exc
    except ValueError as exc:
        raise CompareError(f"{path}: not JSON ({exc}); give a file written by --benchmark-save or "
                           "--benchmark-json") from exc
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, list):
        raise CompareError(f"{path}: no 'benchmarks' list, so not pytest-benchmark JSON; give a file written by "
                           "--benchmark-save or --benchmark-json")
    cases = {case_id(b): b.get("extra_info") or {} for b in benchmarks if isinstance(b, dict)}
    return Run(Path(path), str(data.get("datetime") or "?"), cases, commit_name(data), machine_name(data))


def commit_name(data: Mapping) -> str | None:
    """The commit a pytest-benchmark run measured (``commit_info.id``, ``+dirty`` if so), or None."""
    info = data.get("commit_info") if isinstance(data.get("commit_info"), Mapping) else {}
    commit = info.get("id")
    return f"{commit}{'+dirty' if info.get('dirty') else ''}" if isinstance(commit, str) and commit else None


def machine_name(data: Mapping) -> str:
    """``AMD EPYC, vm``: a pytest-benchmark run's processor and host name ('' when it recorded neither)."""
    machine = data.get("machine_info") if isinstance(data.get("machine_info"), Mapping) else {}
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), Mapping) else {}
    return ", ".join(str(v) for v in (cpu.get("brand_raw"), machine.get("node")) if v)


def load_thresholds(config: Path | None) -> dict[str, float]:
    """Per-case overrides from ``[tool.zoo.bench.thresholds]`` of ``config`` (a pyproject.toml; None or a
    file without the table: none), validated."""
    if config is None:
        return {}
    try:
        table = tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CompareError(f"{config}: cannot read its thresholds ({exc}); fix the file or pass --config") from exc
    for key in PYPROJECT_TABLE:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    overrides = {}
    for pattern, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise CompareError(f"{config}: [{'.'.join(PYPROJECT_TABLE)}] {pattern!r} = {value!r}: give the allowed "
                               "slowdown as a fraction between 0 and 1, e.g. 0.3")
        overrides[pattern] = float(value)
    return overrides


def threshold_for(case: str, overrides: Mapping[str, float]) -> float:
    """The allowed slowdown of ``case``: the first matching override, else default pattern, else the default."""
    for patterns in (overrides, DEFAULT_THRESHOLDS):
        for pattern, value in patterns.items():
            if fnmatch.fnmatchcase(case, pattern):
                return value
    return DEFAULT_THRESHOLD


def _value(extra: Mapping, figure: Figure, relative: bool) -> float | None:
    found = (extra.get("relative") or {}).get(figure.key) if relative else extra.get(figure.key)
    if isinstance(found, bool) or not isinstance(found, (int, float)) or not math.isfinite(found) or found <= 0:
        return None
    return float(found)


def compare_case(case: str, old: Mapping, new: Mapping, threshold: float) -> tuple[list[Change], bool]:
    """The changes of one case's figures, and whether a calibrated figure fell back to absolute values."""
    changes, fell_back = [], False
    for figure in FIGURES:
        relative = figure.calibrated and all(_value(e, figure, True) is not None for e in (old, new))
        before, after = _value(old, figure, relative), _value(new, figure, relative)
        if before is None or after is None:
            continue
        fell_back |= figure.calibrated and not relative
        basis = "relative" if relative else ("absolute" if figure.calibrated else "paired")
        changes.append(Change(case, figure.key, basis, before, after, threshold, figure.higher_is_better))
    return changes, fell_back


def compare(baseline: Run, new: Run, overrides: Mapping[str, float] | None = None) -> Comparison:
    """Every figure of every case both runs have, with its threshold, and notes on the rest."""
    changes, absolute, notes = [], [], []
    for case in sorted(set(baseline.cases) & set(new.cases)):
        old, fresh = baseline.cases[case], new.cases[case]
        if old.get("backend") != fresh.get("backend"):
            notes.append(f"{case}: not compared, backends differ ({old.get('backend')} vs {fresh.get('backend')})")
            continue
        found, fell_back = compare_case(case, old, fresh, threshold_for(case, overrides or {}))
        changes += found
        absolute += [case] if fell_back else []
    if absolute:
        notes.append(f"{len(absolute)} case(s) compared on absolute rates, which swing threefold between days on a "
                     "shared machine: a run lacks the calibration (extra_info 'relative'; runs before zoo.calibration)")
    for label, run, other in (("baseline", baseline, new), ("new run", new, baseline)):
        only = sorted(set(run.cases) - set(other.cases))
        if only:
            notes.append(f"only in the {label}: {len(only)} case(s), e.g. {only[0]}")
    return Comparison(baseline, new, changes, notes)


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Headers and one row per case and figure: both values, the change, the threshold, the verdict."""
    headers = ["case", "figure", "basis", "baseline", "new", "change", "threshold", "verdict"]
    rows = [[c.case, c.figure, c.basis, _num(c.baseline), _num(c.new), f"{c.change:+.1%}", f"-{c.threshold:.0%}",
             "SLOWER" if c.regressed else "ok"] for c in comparison.changes]
    return headers, rows


def run_compare(baseline: str | None, new: str | None, storage: Path, config: Path | None) -> Comparison:
    """Resolve, load and compare two runs (what ``zoo bench compare`` does before printing)."""
    old_path, new_path = resolve_runs(baseline, new, storage)
    comparison = compare(load_run(old_path), load_run(new_path), load_thresholds(config))
    if not comparison.changes:
        why = f" (e.g. {comparison.notes[0]})" if comparison.notes else ""
        raise CompareError(f"{old_path} and {new_path} share no case with a figure to compare "
                           f"({', '.join(f.key for f in FIGURES)}){why}; compare two runs of the same suite")
    return comparison
