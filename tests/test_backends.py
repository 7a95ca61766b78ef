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
    # The export from any backend has a test of its own (test_any_backend_export.py).
    result = subprocess.run([sys.executable, "-m", "zoo", "run", "iris_mlp", "fn_abs", "--epochs", "3", "--no-export",
                             "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "iris_mlp" / "report.json").read_text())
    assert report["environment"]["backend"] == backend
    assert report["environment"]["versions"][backend]
    assert report["metrics"]["accuracy"] > 0.5 and len(report["history"]["loss"]) == 3
    assert json.loads((tmp_path / "fn_abs" / "report.json").read_text())["metrics"]["r2"] > 0.5
    assert (tmp_path / "iris_mlp" / "model.keras").stat().st_size > 0


# --backend: the chooser (zoo.backend_choice) and `zoo run`'s grouping of entries by backend.

TABLE = {"devices": {"cpu": {
    "iris_mlp": {"order": ["jax", "tensorflow", "torch"], "machine": "Test CPU", "measured": "2026-11-26T00:00:00",
                 "train_samples_per_sec": {"jax": 300.0, "tensorflow": 100.0, "torch": 10.0}},
    "fn_square": {"order": ["tensorflow", "jax"], "machine": "Test CPU", "measured": "2026-11-26T00:00:00",
                  "train_samples_per_sec": {"jax": 50.0, "tensorflow": 100.0}},
    "mnist_cnn": {"order": ["torch", "tensorflow", "jax"], "machine": "Test CPU", "measured": "2026-11-26T00:00:00",
                  "train_samples_per_sec": {"jax": 1.0, "tensorflow": 2.0, "torch": 3.0}}}, "gpu": {}}}
EVERYTHING = {"tensorflow", "jax", "torch"}


def choose(name, requested, env=None, device="cpu", have=EVERYTHING):
    from zoo.backend_choice import choose as real

    return real(name, requested, device, env=env or {}, table=TABLE, is_installed=lambda b: b in have)


def test_auto_picks_the_fastest_measured_backend_per_entry_and_device():
    choice = choose("iris_mlp", "auto")
    assert (choice.backend, choice.requested) == ("jax", "auto")
    assert choice.why.startswith("auto: JAX trains iris_mlp fastest on CPU") and "TensorFlow 100" in choice.why
    assert choose("fn_square", "auto").backend == "tensorflow"
    fallback = choose("iris_mlp", "auto", device="gpu")  # the GPU row is empty until GPU numbers exist
    assert fallback.backend == "tensorflow" and "no GPU training benchmark" in fallback.why
    assert choose("somebody_elses_entry", "auto").backend == "tensorflow"


def test_auto_skips_a_backend_that_is_not_installed_and_says_so():
    choice = choose("mnist_cnn", "auto", have={"tensorflow", "jax"})
    assert choice.backend == "tensorflow"
    assert "PyTorch (pip install torch) not installed" in choice.why and "\n" not in choice.why
    assert choose("mnist_cnn", "auto", have=set()).backend == "tensorflow"


def test_a_keras_backend_the_user_set_wins_over_auto_and_an_explicit_flag_over_both():
    from zoo.errors import ZooError

    choice = choose("iris_mlp", "auto", env={"KERAS_BACKEND": "torch"})
    assert choice.backend == "torch" and "KERAS_BACKEND=torch" in choice.why
    explicit = choose("iris_mlp", "tensorflow", env={"KERAS_BACKEND": "jax"})
    assert explicit.backend == "tensorflow" and explicit.why == "--backend tensorflow (over KERAS_BACKEND=jax)"
    with pytest.raises(ZooError, match="pip install torch"):
        choose("iris_mlp", "torch", have={"tensorflow"})
    default = choose("iris_mlp", None)
    assert (default.backend, default.requested) == ("tensorflow", "default")


def test_entries_are_grouped_by_backend_in_the_order_they_came():
    from zoo.backend_choice import plan

    groups = plan(["iris_mlp", "fn_square", "fn_abs", "mnist_cnn"], "auto", "cpu", env={}, table=TABLE,
                  is_installed=lambda b: b != "torch")
    assert [(backend, names) for backend, names, _ in groups] == [("jax", ["iris_mlp"]),
                                                                 ("tensorflow", ["fn_square", "fn_abs", "mnist_cnn"])]


def test_the_child_command_line_keeps_the_options_and_replaces_names_and_backend():
    from zoo.child_run import child_argv
    from zoo.cli import build_parser

    def _child_argv(argv, names, backend):
        return child_argv(build_parser(), argv, names, backend)

    argv = ["--verbose", "run", "iris_*", "fn_square", "--epoch", "1", "--out=/o", "--backend", "auto", "--no-export"]
    assert _child_argv(argv, ["iris_mlp"], "jax") == ["--verbose", "run", "--epoch", "1", "--out=/o", "--no-export",
                                                      "iris_mlp", "--backend", "jax"]
    assert _child_argv(["run", "--all", "--backend=auto", "--seed", "3"], ["a", "b"], "torch") == \
        ["run", "--seed", "3", "a", "b", "--backend", "torch"]


def test_the_command_fails_when_any_backend_group_failed(monkeypatch):
    import zoo.backend_choice
    import zoo.cli

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(zoo.backend_choice, "load_table", lambda: TABLE)
    here = zoo.backend_choice.configured_backend()
    ran = []
    monkeypatch.setattr(zoo.cli, "_run_here", lambda args, names, choices: ran.append(("here", names)) or 0)
    monkeypatch.setattr(zoo.cli, "_run_in_child", lambda args, b, names, choices: ran.append((b, names)) or 1)
    assert zoo.cli.main(["run", "iris_mlp", "fn_square", "--backend", "auto"]) == 1
    expected = {"jax": ["iris_mlp"], "tensorflow": ["fn_square"]}
    assert sorted(ran) == sorted(("here" if b == here else b, names) for b, names in expected.items())


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the jax Keras backend is not installed")
def test_auto_runs_each_entry_under_its_fastest_backend_and_reports_why(tmp_path, monkeypatch, capsys):
    """One command with zoo run's defaults (no --backend, no KERAS_BACKEND), two backends: the entry JAX trains
    fastest runs in a JAX child, which exports through its TensorFlow converter child, the other here."""
    import zoo.backend_choice
    from zoo.cli import main

    monkeypatch.delenv("KERAS_BACKEND", raising=False)  # a KERAS_BACKEND the user set would win over auto
    monkeypatch.setattr(zoo.backend_choice, "load_table", lambda: TABLE)
    code = main(["run", "fn_square", "iris_mlp", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0, err[-3000:]
    assert "zoo: note: iris_mlp: auto: JAX trains iris_mlp fastest on CPU" in err
    iris = json.loads((tmp_path / "iris_mlp" / "report.json").read_text())
    square = json.loads((tmp_path / "fn_square" / "report.json").read_text())
    assert iris["environment"]["backend"] == "jax"
    assert iris["environment"]["backend_choice"]["requested"] == "auto"
    assert iris["environment"]["backend_choice"]["why"].startswith("auto: JAX trains iris_mlp fastest")
    assert len(iris["history"]["loss"]) == 1  # --epochs reached the child
    assert iris["onnx"]["file"] == "model.onnx" and (tmp_path / "iris_mlp" / "model.onnx").stat().st_size > 0
    assert square["environment"]["backend_choice"]["backend"] == square["environment"]["backend"]
    assert square["environment"]["backend_choice"]["requested"] == "auto"


# auto is zoo run's and zoo reference's default. conftest.py pins KERAS_BACKEND for the suite, which wins over
# auto, so these tests unset it.

JAX = importlib.util.find_spec("jax") is not None


def test_zoo_run_defaults_to_auto_from_the_shipped_table(monkeypatch):
    from zoo.backend_choice import plan
    from zoo.cli import build_parser

    assert build_parser().parse_args(["run", "iris_mlp"]).backend == "auto"
    assert build_parser().parse_args(["reference", "zoo", "--dest", "set"]).backend == "auto"
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    groups = plan(["iris_mlp", "somebody_elses_entry"], "auto", "cpu")  # the table zoo ships
    chosen = {name: choice for _, _, choices in groups for name, choice in choices.items()}
    assert chosen["iris_mlp"].backend == ("jax" if JAX else "tensorflow")
    assert chosen["somebody_elses_entry"].backend == "tensorflow"  # nothing measured for it
    assert {choice.requested for choice in chosen.values()} == {"auto"}


@pytest.fixture
def placed(monkeypatch):
    """zoo run's groups as it would run them, nothing trained: {entry: (backend or "here", Choice)}; auto decides
    from TABLE, with PyTorch (which it wants for mnist_cnn) not installed and KERAS_BACKEND unset."""
    import zoo.backend_choice
    import zoo.cli

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(zoo.backend_choice, "load_table", lambda: TABLE)
    monkeypatch.setattr(zoo.backend_choice, "installed", lambda backend: backend != "torch")
    ran = {}
    monkeypatch.setattr(zoo.cli, "_run_here", lambda args, names, choices:
                        ran.update({name: ("here", choices[name]) for name in names}) or 0)
    monkeypatch.setattr(zoo.cli, "_run_in_child", lambda args, backend, names, choices:
                        ran.update({name: (backend, choices[name]) for name in names}) or 0)
    return ran


def test_zoo_run_without_backend_places_each_entry_by_auto_and_says_why(placed, capsys):
    from zoo.backend_choice import configured_backend
    from zoo.cli import main

    here = configured_backend()
    assert main(["run", "iris_mlp", "fn_square", "mnist_cnn", "fn_abs"]) == 0
    where = {name: (backend if backend != "here" else here) for name, (backend, _) in placed.items()}
    assert where == {"iris_mlp": "jax", "fn_square": "tensorflow", "mnist_cnn": "tensorflow", "fn_abs": "tensorflow"}
    assert {choice.requested for _, choice in placed.values()} == {"auto"}
    notes = capsys.readouterr().err.splitlines()
    assert notes[:3] == [f"zoo: note: {name}: {placed[name][1].why}" for name in ("iris_mlp", "fn_square", "mnist_cnn")]
    # The fallback for an optional backend that is missing says which, and how to get it.
    assert "auto: faster PyTorch (pip install torch) not installed, so TensorFlow trains mnist_cnn on CPU" in notes[2]
    # An entry nothing was measured for stays quiet where it trains as zoo run did before auto was the default.
    assert len(notes) == (3 if here == "tensorflow" else 4)


def test_a_keras_backend_the_user_set_wins_over_the_default_quietly(placed, monkeypatch, capsys):
    from zoo.backend_choice import configured_backend
    from zoo.cli import main

    here = configured_backend()
    monkeypatch.setenv("KERAS_BACKEND", here)
    assert main(["run", "iris_mlp", "fn_square"]) == 0
    assert capsys.readouterr().err == ""  # as zoo run was before auto became the default; the report says why
    assert {name: backend for name, (backend, _) in placed.items()} == {"iris_mlp": "here", "fn_square": "here"}
    assert placed["iris_mlp"][1].record() == {"backend": here, "precision": "float32", "requested": "auto",
                                              "why": f"KERAS_BACKEND={here} set in the environment wins over auto"}


def test_with_distribute_the_default_keeps_this_processs_backend(placed, capsys):
    """A cluster is described for one backend (TF_CONFIG, KERAS_DISTRIBUTION_*), and the table measured one process."""
    from zoo.cli import main

    assert main(["run", "iris_mlp", "mnist_cnn", "--distribute", "data-parallel"]) == 0
    assert {name: backend for name, (backend, _) in placed.items()} == {"iris_mlp": "here", "mnist_cnn": "here"}
    assert placed["iris_mlp"][1].why.startswith("auto: --distribute keeps")
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not JAX, reason="the jax Keras backend is not installed")
def test_the_reference_set_is_built_with_the_same_choice(tmp_path, monkeypatch):
    """Two entries auto puts under two backends: one trains in this process, the other in a child zoo run, and
    both come out the same way: without optimizer state, in the manifest, their reports saying why."""
    import zipfile

    import h5py

    import zoo.backend_choice
    import zoo.reference

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(zoo.backend_choice, "load_table", lambda: TABLE)
    monkeypatch.setattr(zoo.reference, "entries_of", lambda registry, plugin: ["fn_square", "iris_mlp"])
    dest = tmp_path / "set"
    names = zoo.reference.build_reference(dest, None, epochs=1, benchmarks=tmp_path / "no-benchmarks")
    assert names == ["fn_square", "iris_mlp"]
    manifest = json.loads((dest / "manifest.json").read_text())
    for name, backend in {"fn_square": "tensorflow", "iris_mlp": "jax"}.items():
        report = json.loads((dest / name / "report.json").read_text())
        assert report["environment"]["backend"] == backend
        choice = report["environment"]["backend_choice"]
        assert (choice["backend"], choice["requested"]) == (backend, "auto")
        assert choice["why"].startswith(f"auto: {zoo.backend_choice.LABELS[backend]} trains {name} fastest on CPU")
        assert (dest / name / "model.onnx").is_file() and f"{name}/model.keras" in manifest["entries"][name]["files"]
        with zipfile.ZipFile(dest / name / "model.keras") as saved, \
                h5py.File(saved.open("model.weights.h5")) as weights:
            assert "optimizer" not in weights  # stripped after training, wherever it trained


def test_zoo_train_chooses_as_zoo_run_does_before_keras_is_imported(monkeypatch):
    importlib.import_module("keras")  # this process's backend is then fixed

    import zoo.backend_choice
    from zoo.api import _backend_for
    from zoo.errors import ZooError

    monkeypatch.setenv("KERAS_BACKEND", "")  # unset for the chooser; restored after the test
    monkeypatch.setattr(zoo.backend_choice, "load_table", lambda: TABLE)
    here = zoo.backend_choice.configured_backend()
    other = next(b for b in ("jax", "tensorflow") if b != here)
    assert _backend_for("iris_mlp", None, "cpu") is None
    assert _backend_for("iris_mlp", here, "cpu") == {"backend": here, "precision": "float32", "requested": here,
                                                     "why": f"--backend {here}"}
    with pytest.raises(ZooError, match="already imported"):
        _backend_for("iris_mlp", other, "cpu")
    if here == "tensorflow":  # auto wants JAX for iris_mlp: it keeps this process's backend and says why
        kept = _backend_for("iris_mlp", "auto", "cpu")
        assert kept["backend"] == "tensorflow" and "already imported" in kept["why"]
    monkeypatch.delitem(sys.modules, "keras")  # as if nothing had imported Keras: the backend is set for it
    assert _backend_for("iris_mlp", other, "cpu")["backend"] == other and os.environ["KERAS_BACKEND"] == other


def test_zoo_bench_backend_reruns_the_whole_command_under_that_backend(monkeypatch):
    import zoo.backend_choice
    import zoo.cli

    here = zoo.backend_choice.configured_backend()
    other = next(b for b in ("jax", "tensorflow") if b != here)
    if not zoo.backend_choice.installed(other):
        pytest.skip(f"{other} is not installed")
    calls = []
    monkeypatch.setattr(zoo.cli, "_run_in_child", lambda args, b, names, choices: calls.append((b, names)) or 3)
    assert zoo.cli.main(["bench", "iris_mlp", "--device", "cpu", "--backend", other]) == 3
    assert calls == [(other, ["iris_mlp"])]
    from zoo.child_run import child_argv

    assert child_argv(zoo.cli.build_parser(), ["bench", "iris_*", "--seconds", "1", "--backend", other], ["iris_mlp"],
                      other) == \
        ["bench", "--seconds", "1", "iris_mlp", "--backend", other]


def test_zoo_bench_rates_let_auto_choose_for_an_entry_the_shipped_table_lacks(tmp_path, monkeypatch):
    from zoo import measured_backends
    from zoo.backend_choice import choose as real_choose

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))

    def choose(name, requested, env, is_installed):  # the shipped table, and yours
        return real_choose(name, requested, "cpu", env=env, is_installed=is_installed)

    def everything(backend):
        return True
    assert choose("wine_mlp", "auto", env={}, is_installed=everything).backend == "tensorflow"  # not measured
    result = {"model": "wine_mlp", "mode": "train", "device": "cpu", "device_name": "Test CPU"}
    assert measured_backends.record([{**result, "backend": "jax", "samples_per_sec": 50.0},
                                     {**result, "mode": "infer_keras", "backend": "torch", "samples_per_sec": 1e9}]) == 1
    assert choose("wine_mlp", "auto", env={}, is_installed=everything).backend == "tensorflow"  # one backend only
    measured_backends.record([{**result, "backend": "torch", "samples_per_sec": 80.0}])
    choice = choose("wine_mlp", "auto", env={}, is_installed=everything)
    assert choice.backend == "torch" and "your zoo bench (Test CPU)" in choice.why and "PyTorch 80" in choice.why
    # Yours win over the shipped row for the same entry (they were taken on this machine).
    measured_backends.record([{**result, "model": "iris_mlp", "backend": b, "samples_per_sec": r}
                              for b, r in (("tensorflow", 9.0), ("jax", 1.0))])
    assert choose("iris_mlp", "auto", env={}, is_installed=everything).backend == "tensorflow"


def test_a_damaged_rates_file_is_ignored(tmp_path, monkeypatch):
    from zoo import measured_backends
    from zoo.backend_choice import choose

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    (tmp_path / measured_backends.FILE_NAME).write_text('{"cpu": {"x": {"jax": 3, "torch": {"train_samples_per_sec": "fast"}}}')
    assert measured_backends.table() == {}
    (tmp_path / measured_backends.FILE_NAME).write_text('{"cpu": {"x": [1, 2], "y": null}}')
    assert measured_backends.table() == {}
    (tmp_path / measured_backends.FILE_NAME).write_text("[1, 2")
    assert measured_backends.table() == {} and choose("iris_mlp", "auto", "cpu", env={}).backend in ("jax", "tensorflow")


def test_a_warning_the_parent_printed_is_not_printed_again_by_its_child_under_another_backend(monkeypatch, capsys):
    """zoo run moves an entry to a child process under its backend: a broken plugin is still said once."""
    import warnings

    from zoo import cli, said_warnings
    from zoo.errors import ZooWarning

    monkeypatch.setattr(said_warnings, "_said", [])
    monkeypatch.delenv(said_warnings.ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = cli._show_warning
        warnings.warn("plugin 'x' failed to load: boom", ZooWarning)
        warnings.warn("plugin 'x' failed to load: boom", ZooWarning)  # said once per command
        handed = said_warnings.handed_down()  # what zoo.child_run puts in the child's environment
        assert json.loads(handed[said_warnings.ENV]) == ["plugin 'x' failed to load: boom"]
        monkeypatch.setattr(said_warnings, "_said", [])  # the child: a new process, the parent's list in its env
        monkeypatch.setenv(said_warnings.ENV, handed[said_warnings.ENV])
        warnings.warn("plugin 'x' failed to load: boom", ZooWarning)
        warnings.warn("plugin 'y' raised in register_models", ZooWarning)
    assert capsys.readouterr().err.splitlines() == ["zoo: warning: plugin 'x' failed to load: boom",
                                                    "zoo: warning: plugin 'y' raised in register_models"]
