"""How long the quick commands take from a cold process: `zoo list` and `zoo predict`, as a user types them.

The goal (issue: a fast CLI) is checked when the suite is timed (`tox -e bench`); the default test run
runs each once as a smoke test. Each round is a whole new Python process, since start-up is the cost.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.conftest import STARTUP

GOAL_SECONDS = 1.5  # per command, on the project's 2-core CI machine
IRIS_ROWS = "6.3,2.5,5.0,1.9\n5.1,3.5,1.4,0.2\n"
COMMANDS = {"list": ["list"], "predict": ["predict", "iris_mlp", "rows.csv"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_start_up(command, benchmark, tmp_path):
    (tmp_path / "rows.csv").write_text(IRIS_ROWS)
    argv = [sys.executable, "-m", "zoo", *COMMANDS[command]]

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120)

    result = run() if benchmark.disabled else benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)
    assert result.returncode == 0, result.stderr
    if benchmark.disabled:
        return
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update({"model": f"zoo {command}", "mode": "startup", "seconds": seconds})
    STARTUP.append({"command": f"zoo {' '.join(COMMANDS[command])}", "seconds": seconds})
    assert seconds <= GOAL_SECONDS, f"`zoo {' '.join(COMMANDS[command])}` took {seconds:.2f} s (goal {GOAL_SECONDS} s)"
