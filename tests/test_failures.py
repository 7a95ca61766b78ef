"""Bad runs end in one clear line, a non-zero exit, and no damage to what was already on disk."""

import builtins
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
from plugin_fakes import DatasetPlugin, ModelPlugin, source, tiny_model
from zoo.cli import main
from zoo.errors import TrainingError, ZooError
from zoo.plugins import build_registry
from zoo.run import RunOptions, run_model


def nan_registry(model: str = "tiny_net"):
    """A registry whose only model trains on data containing NaN."""
    def load():
        x = np.full((20, 2), np.nan, dtype="float32")
        y = np.zeros(20, dtype="int64")
        return zoo.Splits(x[:16], y[:16], x[16:], y[16:])

    data = zoo.DatasetSpec(name="tiny", task="classification", description="NaN", class_names=("a", "b"), load=load)
    return build_registry([source("data", DatasetPlugin(data)), source("net", ModelPlugin(tiny_model(model)))])


def test_nan_loss_stops_reports_and_exports_nothing(tmp_path):
    with pytest.raises(TrainingError, match=r"loss became NaN .* nothing was exported.*details: .*failed-run\.json"):
        run_model("tiny_net", RunOptions(out=tmp_path, verbose=0), nan_registry())
    folder = tmp_path / "tiny_net"
    assert sorted(p.name for p in folder.iterdir()) == ["failed-run.json"]
    failure = json.loads((folder / "failed-run.json").read_text())
    assert failure["schema"] == "zoo.failure/1" and "NaN" in failure["error"]
    assert failure["history"]["loss"][0] is None  # NaN, written as valid JSON


def test_nan_run_leaves_previous_export_intact(tmp_path):
    good = run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0))
    before = (good.folder / "report.json").read_bytes()
    with pytest.raises(TrainingError):
        run_model("iris_mlp", RunOptions(out=tmp_path, verbose=0), nan_registry("iris_mlp"))
    assert (good.folder / "report.json").read_bytes() == before
    assert (good.folder / "model.keras").is_file() and (good.folder / "failed-run.json").is_file()


def test_disk_full_while_writing_leaves_nothing_partial(tmp_path, monkeypatch):
    import zoo.run

    good = run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0))
    before = sorted(p.name for p in good.folder.iterdir())

    def full_disk(model, dest):
        dest.write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zoo.run, "save_model", full_disk)
    with pytest.raises(ZooError, match=r"cannot write the run of iris_mlp to .*: No space left on device; "
                                       r"nothing there was changed"):
        run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0))
    assert sorted(p.name for p in good.folder.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") and "tmp" in p.name) == []


def test_unwritable_out_fails_before_training(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    started = time.perf_counter()
    code = main(["run", "iris_mlp", "--out", str(tmp_path / "ro")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot write to {tmp_path / 'ro'}: Permission denied; choose another --out" in err
    assert time.perf_counter() - started < 30  # no training happened first


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions; the simulated case above covers it")
def test_read_only_out_folder(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    code = main(["run", "iris_mlp", "--out", str(out)])
    assert code == 1 and "Permission denied; choose another --out" in capsys.readouterr().err


def test_resume_without_interrupted_run(tmp_path, capsys):
    code = main(["run", "iris_mlp", "--resume", "--out", str(tmp_path)])
    assert code == 1
    assert "--resume: no interrupted run of iris_mlp in" in capsys.readouterr().err


def test_every_file_is_written_under_a_temporary_name(tmp_path, monkeypatch):
    opened = []
    real_open = builtins.open

    def spy(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            opened.append(Path(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0))
    inside = [p.relative_to(tmp_path) for p in opened if tmp_path in p.parents]
    assert inside, "the spy saw no writes"
    for path in inside:
        # Each write goes to a temporary file, a staging folder or the resume backup, all dot-named.
        assert path.parts[0].startswith(".") or path.name.startswith("."), path


def zoo_process(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_keeps_previous_export_and_resumes(tmp_path, signum, code):
    out = tmp_path / "exports"
    first = subprocess.run([sys.executable, "-m", "zoo", "run", "fn_square", "--epochs", "2", "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    report_before = (out / "fn_square" / "report.json").read_bytes()

    process = zoo_process("run", "fn_square", "--epochs", "60", "--out", str(out), cwd=tmp_path)
    wait_for(out / ".fn_square.resume" / "training_metadata.json", 120)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "continue it with 'zoo run fn_square --resume" in err
    assert (out / "fn_square" / "report.json").read_bytes() == report_before
    # No staging folder or temporary file is left; only the backup that --resume continues from.
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".fn_square.resume"]
    if signum != signal.SIGTERM:
        return
    done_before = json.loads((out / ".fn_square.resume" / "training_metadata.json").read_text())["epoch"]
    resumed = subprocess.run([sys.executable, "-m", "zoo", "run", "fn_square", "--epochs", "60", "--resume",
                              "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((out / "fn_square" / "report.json").read_text())
    assert report["training"]["resumed_from_epoch"] >= done_before >= 1
    assert len(report["history"]["loss"]) == 60
    assert report["metrics"]["r2"] > 0.9
    assert not (out / ".fn_square.resume").exists()


def test_saved_model_with_code_is_refused_by_safe_mode(tmp_path):
    import keras

    from zoo.run import load_run

    good = run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0))
    sneaky = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2),
                               keras.layers.Dense(3, activation="softmax")])
    sneaky.save(good.folder / "model.keras")
    with pytest.raises(ZooError, match=r"model\.keras: holds Python code \(a Lambda layer or similar\).*Keras' safe mode"):
        load_run("iris_mlp", tmp_path)


def test_a_ctrl_c_raised_inside_a_garbage_collection_callback_is_not_lost():
    """Python drops an exception raised in a gc callback (printing 'Exception ignored'); zoo sends the signal again."""
    import gc
    import time

    from zoo.interrupts import installed

    def collecting(phase, info):
        if phase == "start" and not fired:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # zoo's handler raises inside this callback
            time.sleep(0.01)

    fired: list = []
    gc.callbacks.append(collecting)
    try:
        with installed(), pytest.raises(KeyboardInterrupt):
            gc.collect()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the second delivery lands here, where it can unwind
                time.sleep(0.01)
    finally:
        gc.callbacks.remove(collecting)
    assert fired


def test_a_ctrl_c_during_an_import_is_raised_once_the_import_is_over(tmp_path, monkeypatch):
    """A KeyboardInterrupt raised while a native extension loads has crashed the process (SIGSEGV in jaxlib's,
    which TensorFlow imports): zoo delivers the signal again until the import is done."""
    import importlib
    import time

    from zoo.interrupts import installed

    (tmp_path / "slow_to_import.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "deadline = time.monotonic() + 0.3\n"
        "while time.monotonic() < deadline:  # the handler runs here, inside the import, many times over\n"
        "    time.sleep(0.001)\n"
        "COMPLETE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with installed(), pytest.raises(KeyboardInterrupt):
        module = importlib.import_module("slow_to_import")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # raised here, after the import
            time.sleep(0.01)
    assert module.COMPLETE


def test_a_native_crash_under_the_quiet_cli_still_says_where():
    """The CLI silences file descriptor 2 (native start-up chatter); a segfault must not die silently with it."""
    import subprocess
    import sys

    code = "import ctypes\nfrom zoo.cli import _quiet\nwith _quiet(False):\n    ctypes.string_at(0)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in done.stderr and "string_at" in done.stderr, done.stderr
