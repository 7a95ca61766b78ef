"""Shared fixtures: small generated data, an isolated Keras cache, and the full datasets when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from idxfiles import write_mnist_folder
from zoo.backend_choice import configured_backend

# The suite tests one Keras backend per run, as tox's bench-BACKEND envs measure one. zoo run's default,
# --backend auto, would send the entries JAX trains fastest to JAX children: other numbers and a slower
# suite. A KERAS_BACKEND the user set wins over auto, so pinning it to the backend Keras would use here
# keeps every zoo run a test starts, in this process or in a child, under this process's backend. It must
# come before anything imports Keras: this is the first conftest pytest loads (zoo's pytest plugin,
# zoo.testing, imports no Keras), pytest-xdist workers inherit it and load this file too, and where Keras
# was imported earlier configured_backend() is the backend it has. Tests of auto itself unset it
# (monkeypatch.delenv), and a KERAS_BACKEND given to pytest picks the backend under test.
os.environ.setdefault("KERAS_BACKEND", configured_backend())

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "datasets"
# Tests and CI read the full datasets from ../shared/datasets when it exists.
if "ZOO_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["ZOO_DATA_DIR"] = str(SHARED_DATA)


def _full_data_dir() -> Path | None:
    root = os.environ.get("ZOO_DATA_DIR")
    if root and all((Path(root) / name / "train-images-idx3-ubyte.gz").is_file() for name in ("mnist", "fashion-mnist")):
        return Path(root)
    return None


# Read once, before any test changes the environment.
FULL_DATA = _full_data_dir()


@pytest.fixture
def full_data() -> Path:
    """The full datasets' folder; the test is skipped when it is absent."""
    root = FULL_DATA
    if root is None:
        pytest.skip("full MNIST/Fashion-MNIST not found: set ZOO_DATA_DIR to a folder with mnist/ and "
                    "fashion-mnist/ holding the standard IDX files")
    return root


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """A data dir with small learnable mnist/ and fashion-mnist/ folders of real IDX files."""
    root = tmp_path / "data"
    write_mnist_folder(root / "mnist")
    write_mnist_folder(root / "fashion-mnist")
    return root


@pytest.fixture(autouse=True)
def isolated_places(tmp_path, monkeypatch):
    """No test reads or writes the user's Keras cache, zoo's runs folder or the system dataset folders."""
    import zoo.datasets

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))
    monkeypatch.setattr(zoo.datasets, "SYSTEM_DATA_DIRS", (tmp_path / "system-datasets",))


@pytest.fixture(scope="session")
def registry():
    """The registry of the installed plugins (the built-in ones included)."""
    from zoo.plugins import load_registry

    return load_registry()


# One entry of each kind the figures distinguish: linear on logits, dense MLP, CNN with a test
# variant, tabular MLP, 1-D curve fit.
RUN_KINDS = ("fashion_linear", "mnist_mlp", "mnist_cnn_inverted", "iris_mlp", "fn_square")


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> Path:
    """An exports folder with a one-epoch run of each of RUN_KINDS on small generated data."""
    from zoo.run import RunOptions, run_model

    root = tmp_path_factory.mktemp("trained-runs")
    write_mnist_folder(root / "data" / "mnist")
    write_mnist_folder(root / "data" / "fashion-mnist")
    with pytest.MonkeyPatch.context() as patch:  # as isolated_places, which is per test
        patch.setenv("KERAS_HOME", str(root / "keras-home"))
        patch.setenv("ZOO_HOME", str(root / "zoo-home"))
        for name in RUN_KINDS:
            run_model(name, RunOptions(epochs=1, data_dir=root / "data", out=root / "exports", verbose=0))
    return root / "exports"
