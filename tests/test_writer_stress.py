"""Writers racing and dying on one runs folder, as `zoo` processes: `zoo run`, `zoo export` and `zoo report` of two
entries, three at a time, 30 of them killed at random instants (SIGKILL mostly, some SIGINT; ZOO_STRESS_KILLS=50
for a longer round). Afterwards every entry's files match the manifest, the next command leaves no staging
folder, and no completed run is lost."""

import datetime
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from zoo.exports.manifest import read_manifest
from zoo.files import sha256_file

ENTRIES = ("fn_square", "iris_mlp")
# 30 kills take about two minutes of the suite's two cores; the random instants come from a fixed seed, so a run
# is repeatable, and ZOO_STRESS_KILLS takes more.
KILLS = int(os.environ.get("ZOO_STRESS_KILLS", "30"))
AT_ONCE = 3
SAMPLES = {"fn_square": "0.5\n", "iris_mlp": "5.1,3.5,1.4,0.2\n"}


@dataclass
class Writer:
    """One `zoo` process of the stress test and what is planned for it."""

    kind: str  # run, export or report
    entry: str
    seed: int  # runs only; increasing with the start order
    process: subprocess.Popen
    stderr: Path
    started: float
    wall_start: float  # time.time(), to compare with the timestamps zoo writes
    kill_at: float | None
    signal: int

    def outcome(self) -> tuple[int, str]:
        return self.process.returncode, self.stderr.read_text()


def zoo(out: Path, *args: str, stderr=subprocess.PIPE, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "ZOO_HOME": str(out.parent / "home")}
    return subprocess.Popen([sys.executable, "-m", "zoo", *args, "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=stderr, env=env, text=True, **kwargs)


def start(out: Path, rng: random.Random, seed: int, logs: Path) -> Writer:
    kind = rng.choice(("run", "run", "export", "report"))
    entry = rng.choice(ENTRIES)
    args = {"run": ("run", entry, "--epochs", "1", "--seed", str(seed)), "export": ("export", entry),
            "report": ("report", entry)}[kind]
    stderr = logs / f"{seed}-{kind}-{entry}.err"
    with open(stderr, "w") as f:
        process = zoo(out, *args, stderr=f)
    now = time.monotonic()
    # Most die, at any instant from start-up to the last write; SIGINT only once the CLI's handler is in.
    kill = rng.random() < 0.85
    sig = signal.SIGKILL if rng.random() < 0.8 else signal.SIGINT
    at = now + rng.uniform(1.5 if sig == signal.SIGINT else 0.3, 9.0) if kill else None
    return Writer(kind, entry, seed, process, stderr, now, time.time(), at, sig)


def check_outcome(writer: Writer, killed: bool) -> None:
    code, err = writer.outcome()
    where = f"{writer.kind} {writer.entry} (seed {writer.seed}, code {code}): {err[-2000:]}"
    if killed and writer.signal == signal.SIGKILL:
        assert code in (-signal.SIGKILL, 0, 1), where
    elif killed:  # -SIGINT: the signal came after zoo's handler was gone, as the interpreter shut down
        assert code in (130, -signal.SIGINT, 0, 1), where
        assert code != 130 or "nothing was left half-written" in err, where
    else:
        assert code in (0, 1), where
    assert "Traceback" not in err, where
    if code == 1:  # nothing yet to export or report, or the entry is training in another process
        assert all(line.startswith("zoo: ") for line in err.strip().splitlines()), where


def test_kills_among_racing_writers_lose_nothing(tmp_path):
    out = tmp_path / "runs"
    logs = tmp_path / "logs"
    logs.mkdir()
    first = zoo(out, "run", *ENTRIES, "--epochs", "1", "--seed", "0")
    assert first.wait(timeout=600) == 0, first.stderr.read()
    rng = random.Random(20261207)
    seed, kills, running = 0, 0, []
    completed_runs: dict[str, list[int]] = {entry: [0] for entry in ENTRIES}
    last_export_start = dict.fromkeys(ENTRIES, 0.0)  # of the last export (by `zoo run` or `zoo export`) that completed
    deadline = time.monotonic() + 900
    while kills < KILLS or running:
        assert time.monotonic() < deadline, "the stress test ran past 15 minutes"
        while len(running) < AT_ONCE and kills + sum(w.kill_at is not None for w in running) < KILLS:
            seed += 1
            running.append(start(out, rng, seed, logs))
        for writer in list(running):
            killed = False
            if writer.process.poll() is None:
                if writer.kill_at is None or time.monotonic() < writer.kill_at:
                    continue
                writer.process.send_signal(writer.signal)
                killed = True
                writer.process.wait(timeout=300)
                kills += 1
            running.remove(writer)
            check_outcome(writer, killed)
            if writer.kind == "run" and writer.process.returncode == 0:
                completed_runs[writer.entry].append(writer.seed)
            if writer.kind in ("run", "export") and writer.process.returncode == 0:
                last_export_start[writer.entry] = max(last_export_start[writer.entry], writer.wall_start)
        time.sleep(0.05)

    # The next command repairs whatever the last kill left, and reads a consistent folder.
    for entry in ENTRIES:
        sample = tmp_path / f"{entry}.csv"
        sample.write_text(SAMPLES[entry])
        done = subprocess.run([sys.executable, "-m", "zoo", "predict", entry, str(sample), "--out", str(out)],
                              capture_output=True, text=True, env={**os.environ, "ZOO_HOME": str(tmp_path / "home")},
                              timeout=120)
        assert done.returncode == 0, done.stderr
    # A run killed while training keeps its per-epoch backup on purpose, for `zoo run NAME --resume`; nothing
    # else may be left.
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")
                 and p.name not in {f".{entry}.resume" for entry in ENTRIES}]
    assert leftovers == [], leftovers
    manifest = read_manifest(out)
    for entry in ENTRIES:
        record = manifest["entries"][entry]
        for key, facts in record["files"].items():
            assert sha256_file(out / key) == facts["sha256"], key
        report = json.loads((out / entry / "report.json").read_text())
        assert report["onnx"]["sha256"] == record["files"][f"{entry}/model.onnx"]["sha256"]
        # No completed run lost: the entry holds the last completed run, or a run started after it whose
        # commit finished before it was killed.
        assert report["training"]["seed"] >= completed_runs[entry][-1], (entry, completed_runs)
        # No completed export lost either: the export on disk was made after the last completed one began.
        created = datetime.datetime.fromisoformat(report["onnx"]["created"]).timestamp()
        assert created >= last_export_start[entry] - 1, (entry, report["onnx"]["created"], last_export_start)
    assert kills >= KILLS
