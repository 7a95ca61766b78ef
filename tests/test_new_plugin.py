"""`zoo new plugin`: the package it writes passes its own tests as written, builds its reference set with
`zoo reference`, and once reinstalled, `zoo list` and `zoo predict` use that set with no training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.cli import main

pytest.importorskip("copier", reason="zoo new needs copier (pip install 'zoo[new]')")


def install(package: Path, site: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(package)], check=True, timeout=300)
    return site


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(cwd.parent / "home")}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_a_new_plugin_passes_its_own_tests_and_ships_its_reference_set(tmp_path, capsys):
    package = tmp_path / "zoo-blobs"
    assert main(["new", "plugin", str(package), "--name", "blobs"]) == 0, capsys.readouterr().err
    made = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert made == [".ci/run", ".copier-answers.yml", ".gitignore", "README.md", "pyproject.toml",
                    "tests/test_zoo_blobs.py", "tox.ini", "zoo_blobs/__init__.py", "zoo_blobs/dataset.py",
                    "zoo_blobs/model.py"]
    assert os.access(package / ".ci" / "run", os.X_OK)

    site = install(package, tmp_path / "site")
    tested = run(site, package, "-m", "pytest", "-p", "no:cacheprovider", "-q")
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert "zoo checks: 7 ran: 6 passed, 1 skipped" in tested.stdout  # no reference set built yet
    assert "blobs_mlp-reference_set: the reference set declared at" in tested.stdout

    built = run(site, tmp_path, "-m", "zoo", "reference", "blobs", "--dest", str(package / "zoo_blobs" / "reference"),
                "--epochs", "3")
    assert built.returncode == 0, built.stderr[-3000:]
    assert (package / "zoo_blobs" / "reference" / "manifest.json").is_file()

    shipped = install(package, tmp_path / "shipped")
    work = tmp_path / "work"
    work.mkdir()
    listed = run(shipped, work, "-m", "zoo", "list", "blobs_mlp", "--json")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    (card,) = json.loads(listed.stdout)
    assert card["reference"]["value"] > 1 / 3 and Path(card["reference"]["folder"]).is_relative_to(shipped)
    (work / "points.csv").write_text("0.5,-1.2,0.3,2.0,-0.7,1.1,0.0,-0.4\n")
    predicted = run(shipped, work, "-m", "zoo", "predict", "blobs_mlp", "points.csv", "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)[0]["classes"][0]["name"] in ("a", "b", "c")
    assert sorted(p.name for p in work.iterdir()) == ["points.csv"]  # nothing trained or written here

    tested = run(shipped, package, "-m", "pytest", "-p", "no:cacheprovider", "-q")
    assert tested.returncode == 0 and "zoo checks: 7 ran: 7 passed" in tested.stdout, tested.stdout[-3000:]


def test_zoo_new_refuses_a_folder_that_is_not_empty_and_a_bad_name(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    assert main(["new", "plugin", str(tmp_path / "taken"), "--name", "blobs"]) == 1
    assert "exists and is not an empty folder; choose a new one" in capsys.readouterr().err
    assert main(["new", "plugin", str(tmp_path / "fresh"), "--name", "Blobs"]) == 1
    assert "plugin name 'Blobs': use lower case letters" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()
