"""One runs folder, many writers: a commit is one step that a kill at any instant cannot split, rival writers lose
nothing, and malformed manifests or swapped files are refused in one line."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zoo import commit
from zoo.cli import main
from zoo.exports.manifest import read_manifest
from zoo.files import sha256_file

# A writer that commits a new version of entry "e" (a fake export: model.onnx, test vectors, report) and, where
# asked, dies by SIGKILL right after one step of the commit, with no cleanup of any kind.
WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from zoo import commit, files
    import zoo.exports.manifest as manifest

    out, version, die_after = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def dying(step, real):
        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)
            if step == die_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapped

    files.write_json = dying("journal", files.write_json)
    files.swap_in = dying("swap", files.swap_in)
    commit.record_entry = dying("manifest", commit.record_entry)
    report = {"dataset": "d", "task": "t", "onnx": {"file": "model.onnx", "opset": 15, "input": {}, "output": {},
              "metric": {}, "created": version, "test_data_set": {"files": ["test_data_set_0/input_0.pb"]},
              "validation": dict.fromkeys(("samples", "output_kind", "max_abs_diff", "max_scaled_diff", "tolerance",
                                           "class_mismatches"), 0)}}
    with commit.writing(out), files.staged_folder(out / "e") as staging:
        (staging / "test_data_set_0").mkdir()
        (staging / "model.onnx").write_text("model " + version)
        (staging / "test_data_set_0" / "input_0.pb").write_text("input " + version)
        commit.commit(staging, out / "e", report)
""")


def write(out: Path, version: str, die_after: str = "never") -> int:
    return subprocess.run([sys.executable, "-c", WRITER, str(out), version, die_after], timeout=120).returncode


def check_consistent(out: Path) -> str:
    """Every file the manifest lists has the sha256 it records; no journal, staging folder or old copy is left.
    Returns the version of entry "e" on disk."""
    manifest = read_manifest(out)
    for entry in manifest["entries"].values():
        for key, facts in entry["files"].items():
            assert sha256_file(out / key) == facts["sha256"], key
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers
    return (out / "e" / "model.onnx").read_text().split()[1]


@pytest.mark.parametrize("die_after, survivor", [("journal", "old"), ("swap", "new"), ("manifest", "new")])
def test_a_writer_killed_at_each_step_of_a_commit_leaves_old_or_new_whole(tmp_path, die_after, survivor):
    out = tmp_path / "runs"
    assert write(out, "old") == 0
    assert write(out, "new", die_after) == -9
    assert (out / commit.JOURNAL).exists()  # the commit was cut short
    commit.settle(out)  # what the next reader does
    assert check_consistent(out) == survivor
    assert write(out, "newer") == 0 and check_consistent(out) == "newer"


def test_a_writer_killed_between_the_two_renames_of_the_swap(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    assert write(out, "old") == 0
    # Simulate the instant between "entry -> .entry.previous" and "staging -> entry".
    staging = out / ".e.abc.tmp"
    shutil.copytree(out / "e", staging)
    (staging / "model.onnx").write_text("model new")
    os.replace(out / "e", out / ".e.previous")
    (out / commit.JOURNAL).write_text(json.dumps({"schema": commit.JOURNAL_SCHEMA, "entry": "e",
                                                  "staging": staging.name, "record": None}))
    with commit.writing(out):
        pass
    assert check_consistent(out) == "old"


def test_leftover_staging_folders_are_removed_by_the_next_command(trained_runs, tmp_path, capsys):
    runs = shutil.copytree(trained_runs, tmp_path / "runs")
    (runs / ".iris_mlp.k2j4x1.tmp").mkdir()
    (runs / ".iris_mlp.k2j4x1.tmp" / "model.keras").write_bytes(b"half")
    (runs / ".manifest.u8q1.tmp.json").write_text("{")
    (runs / "iris_mlp" / ".report.z1.tmp.json").write_text("{")
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    assert main(["predict", "iris_mlp", str(tmp_path / "rows.csv"), "--out", str(runs)]) == 0, capsys.readouterr()
    assert [p.name for p in runs.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in (runs / "iris_mlp").iterdir() if p.name.startswith(".")] == []


def predict_error(capsys, runs: Path, name: str, rows: Path) -> str:
    code = main(["predict", name, str(rows), "--out", str(runs)])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.update(entries=[]), 'manifest.json: "entries" is a list, not an object of entries'),
    (lambda m: m["entries"].update(iris_mlp="iris_mlp/model.onnx"),
     "manifest.json: entry 'iris_mlp' is a string, not an object with \"files\""),
    (lambda m: m["entries"]["iris_mlp"]["files"]["iris_mlp/model.onnx"].update(sha256=12345),
     "manifest.json: iris_mlp/model.onnx's record has no sha256 of 64 hex digits"),
    (lambda m: m["entries"]["iris_mlp"]["files"]["iris_mlp/model.onnx"].update(bytes="12"),
     "manifest.json: iris_mlp/model.onnx's record has no size in bytes"),
])
def test_a_malformed_manifest_is_one_line_naming_the_fix(trained_runs, tmp_path, capsys, damage, message):
    runs = shutil.copytree(trained_runs, tmp_path / "runs")
    manifest = json.loads((runs / "manifest.json").read_text())
    damage(manifest)
    (runs / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    err = predict_error(capsys, runs, "iris_mlp", tmp_path / "rows.csv")
    assert message in err and "delete it and run 'zoo export --all'" in err


def test_another_models_export_under_an_entrys_name_is_refused(trained_runs, tmp_path, capsys):
    runs = shutil.copytree(trained_runs, tmp_path / "runs")
    manifest = json.loads((runs / "manifest.json").read_text())
    for file in ("model.onnx", "end_to_end/model.onnx"):
        shutil.copy2(runs / "fn_square" / file, runs / "iris_mlp" / file)
        manifest["entries"]["iris_mlp"]["files"][f"iris_mlp/{file}"]["sha256"] = sha256_file(runs / "iris_mlp" / file)
    (runs / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    err = predict_error(capsys, runs, "iris_mlp", tmp_path / "rows.csv")
    assert "iris_mlp/end_to_end/model.onnx: the export of 'fn_square', not of 'iris_mlp'; run 'zoo export iris_mlp" \
        in err
    # An export of an earlier zoo, model.onnx alone: the same refusal.
    manifest["entries"]["iris_mlp"]["files"].pop("iris_mlp/end_to_end/model.onnx")
    (runs / "manifest.json").write_text(json.dumps(manifest))
    err = predict_error(capsys, runs, "iris_mlp", tmp_path / "rows.csv")
    assert "iris_mlp/model.onnx: the export of 'fn_square', not of 'iris_mlp'; run 'zoo export iris_mlp" in err


def lambda_model(path: Path) -> Path:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(3)])
    model.save(path)
    return path


def test_a_saved_model_with_a_lambda_layer_is_refused_naming_safe_mode(trained_runs, tmp_path, capsys):
    runs = shutil.copytree(trained_runs, tmp_path / "runs")
    lambda_model(runs / "iris_mlp" / "model.keras")
    before = sha256_file(runs / "iris_mlp" / "model.onnx")
    code = main(["export", "iris_mlp", "--out", str(runs)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    line = err.splitlines()[0]
    assert err.splitlines()[1:] == ["zoo: error: 1 of 1 exports failed"]
    assert "model.keras: holds Python code (a Lambda layer or similar)" in line and "Keras' safe mode" in line
    assert sha256_file(runs / "iris_mlp" / "model.onnx") == before  # nothing changed


def test_create_model_with_unloadable_reference_weights_is_a_zoo_error(tmp_path, monkeypatch):
    import zoo
    import zoo.api
    from zoo.errors import ZooError, ZooWarning
    from zoo.plugins import build_registry, discover
    from zoo_plugins import reference_set

    reference = tmp_path / "reference"
    (reference / "iris_mlp").mkdir(parents=True)
    path = lambda_model(reference / "iris_mlp" / "model.keras")
    (reference / "manifest.json").write_text(json.dumps({"schema": "zoo.manifest/1", "entries": {"iris_mlp": {
        "files": {"iris_mlp/model.keras": {"sha256": sha256_file(path), "bytes": path.stat().st_size}}}}}))
    monkeypatch.setattr(reference_set, "folder", lambda: reference)
    monkeypatch.setattr(zoo.api, "load_registry", lambda: build_registry(discover()))
    with pytest.raises(ZooError, match="safe mode.*reinstall zoo"):
        zoo.create_model("iris_mlp", trained=True)

    (reference / "manifest.json").write_text(json.dumps({"schema": "zoo.manifest/1", "entries": []}))
    refused = "plugin 'reference_set'.s reference set: .*\"entries\" is a list.*reinstall zoo"
    with pytest.warns(ZooWarning, match=refused):
        with pytest.raises(ZooError, match="no reference weights for 'iris_mlp'"):
            zoo.create_model("iris_mlp", trained=True)


# `zoo report NAME` that dawdles for 10 s inside its staging folder, as a slow disk or a big figure would.
SLOW_REPORT = textwrap.dedent("""
    import sys, time
    import zoo.run
    from zoo.cli import main

    real = zoo.run.write_report_files

    def slow(*args, **kwargs):
        written = real(*args, **kwargs)
        time.sleep(10)
        return written

    zoo.run.write_report_files = slow
    sys.exit(main(sys.argv[1:]))
""")


def test_an_export_racing_a_report_of_one_entry_is_not_lost(trained_runs, tmp_path):
    import datetime
    import time

    runs = shutil.copytree(trained_runs, tmp_path / "runs")
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "home")}
    report = subprocess.Popen([sys.executable, "-c", SLOW_REPORT, "report", "iris_mlp", "--out", str(runs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not list(runs.glob(".iris_mlp.*.tmp")):  # the report is writing its copy of the folder
        assert report.poll() is None and time.monotonic() < deadline, report.stderr and report.stderr.read()
        time.sleep(0.05)
    export_started = time.time()
    export = subprocess.run([sys.executable, "-m", "zoo", "export", "iris_mlp", "--out", str(runs)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert report.wait(timeout=300) == 0 and export.returncode == 0, (report.stderr.read(), export.stderr)
    facts = json.loads((runs / "iris_mlp" / "report.json").read_text())["onnx"]
    assert datetime.datetime.fromisoformat(facts["created"]).timestamp() >= export_started - 1  # the new export
    assert check_consistent_runs(runs)


def check_consistent_runs(runs: Path) -> bool:
    for entry in read_manifest(runs)["entries"].values():
        for key, facts in entry["files"].items():
            assert sha256_file(runs / key) == facts["sha256"], key
    return True
