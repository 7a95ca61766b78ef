"""Everyday Keras models from a real, installed plugin (tests/zoo-everyday): a custom layer, an Embedding + LSTM
on token ids, a BatchNormalization CNN on colour images and a regression of two targets each train, export,
load again in a new process, predict through `zoo predict` and benchmark; a model on words is refused before
training in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_mobile import replay_model_zoo_layout
from test_playground import browser, loaded_page, needs_browser, replay_every_entry  # noqa: F401  (browser: a fixture)

PACKAGE = Path(__file__).resolve().parent / "zoo-everyday"
TRAINED = ("everyday_tokens", "everyday_colour", "everyday_two_targets", "everyday_custom")


def zoo(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The package installed into a folder of its own, and one `zoo run` of all five models."""
    site = tmp_path_factory.mktemp("everyday-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(PACKAGE)], check=True, timeout=300)
    cwd = tmp_path_factory.mktemp("everyday")
    result = zoo(site, cwd, "run", *TRAINED, "everyday_words", "--out", "out")
    return site, cwd, result


def test_text_is_refused_before_training_and_the_rest_trains_and_exports(runs):
    site, cwd, result = runs
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("zoo: error: ")]
    assert errors[0].startswith("zoo: error: everyday_words: model 'everyday_words' of plugin 'everyday'")
    assert "its dataset's samples are <U4 values (text or objects), not numbers" in errors[0]
    assert errors[1:] == ["zoo: error: 1 of 5 runs failed"]
    for name in TRAINED:
        report = json.loads((cwd / "out" / name / "report.json").read_text())
        assert "sha256" in report["onnx"], (name, report["onnx"])
        # Token ids, colour pictures and two targets export end to end too: raw samples in, replaying.
        assert report["onnx"]["end_to_end"]["validation"]["samples"] == report["data"]["n_test"], name
        replayed = replay_model_zoo_layout(cwd / "out" / name)
        assert replayed == {"model.onnx": 1, "end_to_end/model.onnx": 1}, (name, replayed)
    assert not (cwd / "out" / "everyday_words").exists()


def test_each_loads_in_a_new_process_and_exports_again(runs):
    site, cwd, _ = runs
    exported = zoo(site, cwd, "export", *TRAINED, "--out", "out")
    assert exported.returncode == 0, exported.stderr


def test_each_predicts_through_zoo_predict(runs):
    from PIL import Image

    site, cwd, _ = runs
    np.savetxt(cwd / "tokens.csv", [[9] * 11 + [7], [9] * 12], delimiter=",", fmt="%d")
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 230
    Image.fromarray(red).save(cwd / "red.png")
    (cwd / "x.csv").write_text("0.5\n-1.5\n")
    for name, sample, expect in [("everyday_tokens", "tokens.csv", "tokens.csv line 1: "),
                                 ("everyday_colour", "red.png", "red.png: "),
                                 ("everyday_two_targets", "x.csv", "x.csv line 1: x = 0.5 -> square = "),
                                 ("everyday_custom", "x.csv", "x.csv line 1: x = 0.5 -> square = ")]:
        predicted = zoo(site, cwd, "predict", name, sample, "--out", "out")
        assert predicted.returncode == 0 and predicted.stdout.startswith(expect), (name, predicted.stderr)
    assert "sine = " in zoo(site, cwd, "predict", "everyday_two_targets", "x.csv", "--out", "out").stdout
    unknown = zoo(site, cwd, "predict", "everyday_tokens", str(PACKAGE / "pyproject.toml"), "--out", "out")
    assert unknown.returncode == 1 and "unsupported file type '.toml'" in unknown.stderr
    (cwd / "big.csv").write_text(",".join(["40"] * 12) + "\n")
    refused = zoo(site, cwd, "predict", "everyday_tokens", "big.csv", "--out", "out")
    assert refused.returncode == 1 and "value 40 is outside 0..39, the token ids everyday_tokens knows" in refused.stderr


def test_each_benchmarks(runs):
    site, cwd, _ = runs
    bench = zoo(site, cwd, "bench", *TRAINED, "--device", "cpu", "--seconds", "0.2", "--mode", "train", "--mode",
                "infer_onnx", "--json", "bench.json")
    assert bench.returncode == 0, bench.stderr[-3000:]
    results = json.loads((cwd / "bench.json").read_text())["results"]
    timed = {(r["model"], r["mode"]) for r in results if r.get("samples_per_sec")}
    for name in TRAINED:
        assert (name, "train") in timed and (name, "infer_onnx") in timed, (name, sorted(timed))
    assert {r["mode"] for r in results} == {"train", "infer_onnx"}  # --mode: those cases alone


@needs_browser
def test_each_runs_in_the_playground_as_zoo_predict_does(runs, browser, tmp_path_factory):
    """Every entry gets an editor (the colour CNN its test images, the token model a box per id), and each test
    sample given through it gives the outputs its export's test vectors hold."""
    from zoo.plugins import load_registry

    site, cwd, _ = runs
    out = cwd / "out"
    # The server runs in this process: it needs the plugin too (the curve's test points come from its dataset).
    sys.path.insert(0, str(site))
    load_registry.cache_clear()
    try:
        replayed = _replay_in_playground(browser, out, tmp_path_factory.mktemp("no-reference"))
    finally:
        sys.path.remove(str(site))
        load_registry.cache_clear()
    assert replayed >= 2 + 2 + 16 + 16
    assert browser.problems == []


def _replay_in_playground(browser, out: Path, no_reference: Path) -> int:
    with loaded_page(browser, out, no_reference):
        kinds = browser.evaluate("Object.fromEntries(Object.values(zooPlayground.models).map(m => [m.name, m.kind]))")
        assert kinds == {"everyday_tokens": "table", "everyday_colour": "picture", "everyday_two_targets": "table",
                         "everyday_custom": "curve"}
        return replay_every_entry(browser, {name: out / name for name in TRAINED})
