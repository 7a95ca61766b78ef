"""The conformance kit: zoo's own entries pass it, it generates its tests in a plugin author's suite with counts,
and each check fails, in one line, on the mistake it is for."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np

import zoo
import zoo.checks
from plugin_fakes import DatasetPlugin, ModelPlugin, source, tiny_dataset, tiny_model
from zoo.checks import CheckedEntry, run_check
from zoo.plugins import build_registry
from zoo.testing import parametrize_with_checks
from test_shipped_results import WINE, wine_site  # noqa: F401  (a fixture)


@parametrize_with_checks()  # zoo's own entries, as an author's suite calls it for theirs
def test_builtin_entries_pass_the_kit(entry, check):
    check(entry)


def fake_entry(model: zoo.ModelSpec, dataset: zoo.DatasetSpec | None = None) -> CheckedEntry:
    registry = build_registry([source("data", DatasetPlugin(*([dataset] if dataset else []))),
                               source("net", ModelPlugin(model))])
    return CheckedEntry(model.name, registry)


def test_a_model_that_does_not_fit_its_dataset_fails_fits_dataset():
    def three_outputs():
        import keras

        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])

    spec = tiny_model("misfit")
    misfit = zoo.ModelSpec(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "build": three_outputs})
    result = run_check(fake_entry(misfit), "fits_dataset")
    assert result.status == "failed" and "outputs 3 values per sample, but its dataset needs 2" in result.message


def test_a_loss_that_goes_nan_fails_trains():
    def nan_data() -> zoo.Splits:
        x = np.full((40, 2), np.nan, dtype="float32")
        y = np.zeros(40, dtype="int64")
        return zoo.Splits(x[:30], y[:30], x[30:], y[30:])

    dataset = zoo.DatasetSpec(name="tiny", task="classification", description="NaN", class_names=("a", "b"),
                              load=nan_data)
    result = run_check(fake_entry(tiny_model(), dataset), "trains")
    assert result.status == "failed" and "the loss after 4 steps on 30 samples is [nan]" in result.message


def test_an_entry_without_a_shipped_set_skips_that_check_and_passes_the_rest():
    entry = fake_entry(tiny_model(), tiny_dataset())
    results = {name: run_check(entry, name) for name in ("registered", "fits_dataset", "trains", "exports",
                                                          "metadata", "reference_set")}
    assert {n: r.status for n, r in results.items()} == {**dict.fromkeys(results, "passed"),
                                                         "reference_set": "skipped"}
    assert results["reference_set"].message == "fake-pkg ships no reference set"


def run_suite(tmp_path, site, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_kit.py").write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_kit.py"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def test_the_kit_generates_its_tests_in_an_authors_suite_with_counts(wine_site, tmp_path):
    done = run_suite(tmp_path, wine_site, """
        from zoo.testing import parametrize_with_checks

        @parametrize_with_checks(plugin="wine", expected_failed_checks={"wine_mlp": {"trains": "declared broken"}})
        def test_zoo_checks(entry, check):
            check(entry)
    """)
    # The declared failure does not happen: a strict xfail says so and fails the run.
    assert done.returncode == 1, done.stdout[-3000:]
    assert "[XPASS(strict)] declared broken" in done.stdout and "1 failed, 6 passed" in done.stdout
    assert "zoo checks: 7 ran: 6 passed, 1 failed" in done.stdout

    # zoo-wine's own tests, as its CI runs them (the package was made by `zoo new plugin`).
    package = shutil.copytree(WINE, tmp_path / "zoo-wine")
    env = {**os.environ, "PYTHONPATH": str(wine_site), "ZOO_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], capture_output=True,
                          text=True, env=env, cwd=package, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "zoo checks: 7 ran: 7 passed" in done.stdout


def test_zoo_check_runs_the_same_checks_a_line_each(wine_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(wine_site), "ZOO_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "zoo", "check", "--plugin", "wine"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:-1]] == [["wine_mlp", check, "passed"] for check in
                                                         zoo.checks.CHECKS]
    assert lines[-1] == "zoo check: 7 checks of 1 model(s) ran: 7 passed"
