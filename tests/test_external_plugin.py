"""A third-party package adds a model through the same entry point as the built-in ones."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "zoo-iris-wide"
WINE = EXAMPLE.parent / "zoo-wine"


def zoo_cli(*args, site: Path, cwd: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def test_pip_installed_plugin_is_listed_and_trains(tmp_path):
    package = shutil.copytree(EXAMPLE, tmp_path / "zoo-iris-wide")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, timeout=300)

    listed = zoo_cli("list", "iris*", "--json", site=site, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["iris_wide"]["plugin"] == "iris_wide" and rows["iris_wide"]["params"] == 4 * 32 + 32 + 32 * 3 + 3
    assert "iris_mlp" in rows

    plugins = zoo_cli("plugins", "--json", site=site, cwd=tmp_path)
    info = {p["name"]: p for p in json.loads(plugins.stdout)}["iris_wide"]
    assert (info["package"], info["version"], info["models"], info["status"]) == ("zoo-iris-wide", "0.1.0",
                                                                                   ["iris_wide"], "ok")

    run = zoo_cli("run", "iris_wide", "--out", str(tmp_path / "exports"), site=site, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "exports" / "iris_wide" / "report.json").read_text())
    assert report["plugin"] == "iris_wide" and report["training"]["epochs"] == 50
    assert report["metrics"]["accuracy"] > 0.5  # learned something: chance is 1/3


def test_docs_show_the_examples_as_they_are():
    docs = (EXAMPLE.parent.parent / "docs" / "plugins.md").read_text()
    for path in (EXAMPLE / "pyproject.toml", EXAMPLE / "zoo_iris_wide.py", WINE / "zoo_wine" / "dataset.py",
                 WINE / "zoo_wine" / "model.py"):
        assert path.read_text().strip() in docs, f"docs/plugins.md's copy of {path.name} is out of date"


def test_a_tabular_plugin_standardises_each_feature_in_training_and_in_its_export(tmp_path):
    """examples/zoo-wine: a dataset and a model from one package; its per-column standardisation is declared,
    honest to its data, applied in training and carried into the export that zoo predict reads."""
    import numpy as np

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(WINE)], check=True, timeout=300)
    sys.path.insert(0, str(site))
    try:
        import zoo_wine

        x_train = zoo_wine.load_split().x_train
    finally:
        sys.path.remove(str(site))
    np.testing.assert_allclose(zoo_wine.MEAN, x_train.mean(axis=0), rtol=1e-3)  # the constants are the data's
    np.testing.assert_allclose(zoo_wine.STD, x_train.std(axis=0), rtol=1e-3)

    run = zoo_cli("run", "wine_mlp", "--out", "out", site=site, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "wine_mlp" / "report.json").read_text())
    assert report["metrics"]["accuracy"] > 0.85 and report["package"] == {"name": "zoo-wine", "version": "0.2.0"}
    assert report["onnx"]["input"]["preprocessing"].startswith("per feature: x * (1.234, 0.8741")
    np.savetxt(tmp_path / "rows.csv", zoo_wine.load_split().x_test[:3], delimiter=",", fmt="%.4f")
    predicted = zoo_cli("predict", "wine_mlp", "rows.csv", "--out", "out", "--json", site=site, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)) == 3


BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "zoo-broken"
version = "0.0.1"

[project.entry-points.zoo]
broken = "zoo_broken"

[tool.setuptools]
py-modules = ["zoo_broken"]
"""


def test_broken_installed_plugin_is_reported_and_others_work(tmp_path):
    package = tmp_path / "zoo-broken"
    package.mkdir()
    (package / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (package / "zoo_broken.py").write_text("import a_module_nobody_installed\n")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, timeout=300)

    listed = zoo_cli("list", "--json", site=site, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "mnist_cnn" in {row["name"] for row in json.loads(listed.stdout)}
    warning = [line for line in listed.stderr.splitlines() if line.startswith("zoo: warning:")]
    assert warning == ["zoo: warning: plugin 'broken' failed to load: ModuleNotFoundError: "
                       "No module named 'a_module_nobody_installed'"]

    plugins = zoo_cli("plugins", site=site, cwd=tmp_path)
    row = next(line for line in plugins.stdout.splitlines() if line.startswith("broken "))
    assert "zoo-broken 0.0.1" in row and "failed" in row and "a_module_nobody_installed" in row

    ruled_out = zoo_cli("plugins", site=site, cwd=tmp_path, extra_env={"ZOO_PLUGINS": "-broken"})
    assert "zoo: warning" not in ruled_out.stderr
    assert "left out by ZOO_PLUGINS" in next(l for l in ruled_out.stdout.splitlines() if l.startswith("broken "))
