"""``zoo run NAME --seeds 0-4``: an entry trained once per seed, and the spread of what each run measured.

The first seed is the entry's run as ``zoo run NAME --seed S`` makes it (model, exports, reports); every
other seed trains in a process of its own (``zoo run NAME --seed K --no-export`` into a temporary folder,
several at once where the machine has the cores), and only its report's numbers are kept: the headline
metric, the time to target and the training rate, summarised in the first run's ``report.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

RULE = ("median, min and max over every seed, none dropped (MLPerf Training drops the best and the worst of its "
        "runs and averages the rest; with five seeds the median is the middle of those three)")


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from ``0-4``, ``0,3,7`` or a mix (``0-2,9``): in the order given, without repeats."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high or low)
            if last < first or last - first > 1000:
                raise ValueError(part)
            seeds += [s for s in range(first, last + 1) if s not in seeds]
    except ValueError:
        raise ZooError(f"--seeds {text!r}: give seeds as a range or a list, e.g. --seeds 0-4 or --seeds 0,3,7") \
            from None
    return tuple(seeds)


def default_jobs(seeds: int) -> int:
    """Training processes at once: one per two cores (each trains on several threads), at most one per seed."""
    return max(1, min(seeds, (os.cpu_count() or 1) // 2))


class SeedRuns:
    """The other seeds of an entry's run, trained in child processes, ``at_once`` at a time.

    Use as a context manager: leaving it stops any child still running and removes their folder.
    """

    def __init__(self, name: str, seeds: Sequence[int], run_args: Sequence[str], jobs: int):
        """``jobs``: training processes at once, the first seed's included; with one, the other seeds train
        first (``wait`` before the first seed's run)."""
        self.name, self.seeds, self.run_args, self.jobs = name, tuple(seeds), tuple(run_args), max(1, jobs)
        self.at_once = max(1, self.jobs - 1)
        self._tmp = tempfile.TemporaryDirectory(prefix=f"zoo-seeds-{name}-")
        self._processes: dict[int, subprocess.Popen] = {}
        self._results: dict[int, dict[str, Any] | str] = {}
        self._stopped = False
        self._thread = threading.Thread(target=self._run_all, name=f"zoo-seeds-{name}", daemon=True)

    def __enter__(self) -> SeedRuns:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped = True
        for process in list(self._processes.values()):
            if process.poll() is None:
                process.terminate()
        self._thread.join(timeout=60)
        self._tmp.cleanup()

    def wait(self) -> dict[int, dict[str, Any] | str]:
        """Each seed's report, or the one line saying why its run failed."""
        self._thread.join()
        return dict(self._results)

    def _run_all(self) -> None:
        pending = list(self.seeds)
        while pending and not self._stopped:
            batch, pending = pending[:self.at_once], pending[self.at_once:]
            for seed in batch:
                self._processes[seed] = self._start(seed)
            for seed in batch:
                self._results[seed] = self._finish(seed, self._processes[seed])

    def _start(self, seed: int) -> subprocess.Popen:
        folder = Path(self._tmp.name) / str(seed)
        folder.mkdir()
        command = [sys.executable, "-m", "zoo", "run", self.name, "--seed", str(seed), "--no-export",
                   "--out", str(folder), *self.run_args]
        with open(folder / "stderr.txt", "w") as stderr:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)

    def _finish(self, seed: int, process: subprocess.Popen) -> dict[str, Any] | str:
        code = process.wait()
        folder = Path(self._tmp.name) / str(seed)
        if code != 0:
            lines = [ln for ln in (folder / "stderr.txt").read_text(errors="replace").splitlines()
                     if ln.startswith("zoo: error")]
            return (lines[-1] if lines else f"exited with code {code}")[:300]
        try:
            return json.loads((folder / self.name / "report.json").read_text())
        except (OSError, ValueError) as exc:
            return f"no report: {exc}"


@contextlib.contextmanager
def other_seeds(name: str, seeds: Sequence[int], run_args: Sequence[str], jobs: int | None = None
                ) -> Iterator[SeedRuns | None]:
    """The runs of ``seeds[1:]``, under way (or, with one job at a time, done) while the first seed trains; None
    for a single seed. ``run_args``: the ``zoo run`` options every seed shares (``--epochs``, ``--data-dir``...)."""
    if len(seeds) < 2:
        yield None
        return
    jobs = jobs or default_jobs(len(seeds))
    with SeedRuns(name, seeds[1:], run_args, jobs) as others:
        if jobs == 1:
            others.wait()  # one at a time: the other seeds first, then the first seed's run
        yield others


def summarize(reports: dict[int, dict[str, Any] | str], seeds: Sequence[int], jobs: int) -> dict[str, Any]:
    """What report.json keeps under ``"seeds"``: per seed and as median, min and max (``RULE``)."""
    ok = {s: r for s, r in reports.items() if isinstance(r, dict)}
    metric = next(iter(ok.values()))["measured"]["metric"] if ok else None
    values = {s: r["measured"]["value"] for s, r in ok.items()}
    times = {s: (r.get("time_to_target") or {}) for s, r in ok.items()}
    reached = {s: t["seconds"] for s, t in times.items() if t.get("reached")}
    timed = [s for s, t in times.items() if t.get("reached") is not None]
    return {
        "seeds": list(seeds), "rule": RULE, "processes_at_once": jobs, "metric": metric,
        **_spread({str(s): v for s, v in values.items()}),
        "train_samples_per_sec": _spread({str(s): r["training"]["train_samples_per_sec"] for s, r in ok.items()}),
        "time_to_target": None if not timed else {
            "target": times[timed[0]].get("target"), "reached": len(reached), "of": len(timed),
            "steps": {str(s): times[s].get("steps") for s in timed},
            # A seed that never reached the target counts as slower than any that did.
            **_spread({str(s): reached.get(s) for s in timed}, missing_is_worst=True),
        },
        "failed": {str(s): r for s, r in reports.items() if isinstance(r, str)},
    }


def _spread(values: dict[str, float | None], missing_is_worst: bool = False) -> dict[str, Any]:
    known = [v for v in values.values() if v is not None]
    ranked = known + [float("inf")] * (len(values) - len(known)) if missing_is_worst else known
    if not ranked:
        return {"values": values, "median": None, "min": None, "max": None}
    median = statistics.median_low(ranked) if missing_is_worst else statistics.median(ranked)
    worst = max(ranked)
    return {"values": values, "median": None if median == float("inf") else median,
            "min": min(ranked) if min(ranked) != float("inf") else None,
            "max": None if worst == float("inf") else worst}
