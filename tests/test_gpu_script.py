"""benchmarks/gpu.sh, the one command for GPU numbers, run here on CPU where TensorFlow cannot be imported.

The GPU machine has JAX but no TensorFlow, Keras or network: the script installs zoo from a wheel
(benchmarks/wheelhouse.sh builds it) and runs the suite under JAX. This runs the same two scripts with
importing TensorFlow (and tf2onnx, which needs it) made to fail, on one small entry, so a broken script
shows here rather than on a lent GPU. Keras comes from this environment instead of the wheelhouse, which
needs PyPI to build.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from import_blocker import blocking_env

REPO = Path(__file__).resolve().parent.parent
BLOCKED = ("tensorflow", "tf2onnx")


@pytest.fixture
def no_tensorflow(tmp_path) -> dict[str, str]:
    """An environment where importing TensorFlow fails, checked to really fail."""
    env = blocking_env(tmp_path / "blocker", BLOCKED, "the GPU machine has no TensorFlow")
    env["PYTHON"] = sys.executable
    env.pop("KERAS_BACKEND", None)
    # The script's own pytest run is no xdist worker, whatever runs this test (pytest-benchmark reads this).
    for name in [name for name in env if name.startswith("PYTEST_XDIST_")]:
        env.pop(name)
    return env


def test_gpu_script_runs_the_suite_under_jax_without_tensorflow(tmp_path, no_tensorflow):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("the jax Keras backend is not installed (pip install jax)")
    wheels, results = tmp_path / "wheels", tmp_path / "results"
    built = subprocess.run(["bash", str(REPO / "benchmarks" / "wheelhouse.sh"), "--zoo-only", str(wheels)],
                           env=no_tensorflow, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    # Not the plain-script peers: PyTorch's optimizer imports torch._dynamo, which asks importlib.util.find_spec
    # for tensorflow, and this test's blocker answers that with an ImportError where a machine without
    # TensorFlow answers None (tests/test_peers.py covers the peers, benchmarks/test_peers.py runs them).
    run = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--wheels", str(wheels), "--results",
                          str(results), "--zoo-models", "fn_abs", "--zoo-seconds", "0.01",
                          "-k", "not start_up and not scaling and not plain_peers"],
                         env=no_tensorflow, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    used = re.search(r"gpu\.sh: zoo from (\S+),", output)
    assert used and used[1].endswith("/site/zoo/__init__.py"), output[-3000:]  # the installed wheel...
    assert not Path(used[1]).is_relative_to(REPO)  # ...not this checkout
    assert "no GPU visible to JAX" in output  # GPU cases skip with their reason here
    saved = list(results.glob("*/0001_jax-cpu-*.json"))
    assert len(saved) == 1, output[-2000:]
    found = {(b["extra_info"]["mode"], b["extra_info"]["device"], b["extra_info"]["backend"])
             for b in json.loads(saved[0].read_text())["benchmarks"]}
    assert {("train", "cpu", "jax"), ("infer_keras", "cpu", "jax"), ("infer_onnx", "cpu", "jax"),
            ("overhead", "cpu", "jax")} <= found
