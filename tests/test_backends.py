"""The models and the train/evaluate path run under other Keras backends than TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_entry_end_to_end_under_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} Keras backend is not installed (pip install {backend})")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-m", "zoo", "run", "iris_mlp", "fn_abs", "--epochs", "3",
                             "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "iris_mlp" / "report.json").read_text())
    assert report["environment"]["backend"] == backend
    assert report["environment"]["versions"][backend]
    assert report["metrics"]["accuracy"] > 0.5 and len(report["history"]["loss"]) == 3
    assert json.loads((tmp_path / "fn_abs" / "report.json").read_text())["metrics"]["r2"] > 0.5
    assert (tmp_path / "iris_mlp" / "model.keras").stat().st_size > 0
