"""Where datasets load from, in order, and what happens when no place has them."""

import numpy as np
import pytest

import zoo
import zoo.datasets
from idxfiles import write_mnist_folder
from zoo.datasets import load_dataset, locate, places
from zoo.errors import DataError
from zoo.idx import STANDARD_FILES, read_idx_folder


def idx_dataset(downloads=(), read_downloads=None) -> zoo.DatasetSpec:
    """An MNIST-shaped dataset spec under test control."""
    return zoo.DatasetSpec(name="digits", task="classification", description="test digits",
                           class_names=tuple("0123456789"), folder_names=("digits", "digits-alt"),
                           folder_files=STANDARD_FILES, read_folder=read_idx_folder, downloads=downloads,
                           read_downloads=read_downloads)


@pytest.fixture(autouse=True)
def no_env_data_dir(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)


def test_data_dir_comes_first(tmp_path, monkeypatch):
    write_mnist_folder(tmp_path / "mine" / "digits", n_train=20, n_test=10)
    write_mnist_folder(tmp_path / "system-datasets" / "digits", n_train=30, n_test=10)
    splits = load_dataset(idx_dataset(), tmp_path / "mine")
    assert len(splits.x_train) == 20
    assert splits.origin == f"data dir {tmp_path / 'mine' / 'digits'}"
    assert set(splits.files) == set(STANDARD_FILES)


def test_env_var_is_the_default_data_dir(tmp_path, monkeypatch):
    write_mnist_folder(tmp_path / "env" / "digits-alt", n_train=12, n_test=10)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "env"))
    assert len(load_dataset(idx_dataset()).x_train) == 12


def test_system_folder_when_no_data_dir(tmp_path):
    write_mnist_folder(tmp_path / "system-datasets" / "digits", n_train=30, n_test=10)
    splits = load_dataset(idx_dataset())
    assert len(splits.x_train) == 30 and splits.origin.startswith("system ")


def test_incomplete_folder_is_skipped_and_reported(tmp_path):
    folder = write_mnist_folder(tmp_path / "mine" / "digits", n_train=20, n_test=10)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as error:
        load_dataset(idx_dataset(), tmp_path / "mine")
    message = str(error.value)
    assert f"data dir {folder} (missing t10k-labels-idx1-ubyte.gz)" in message
    assert "(folder does not exist)" in message  # the system folder
    assert "--data-dir DIR" in message


def test_corrupt_local_file_is_an_error_not_a_fallback(tmp_path):
    folder = write_mnist_folder(tmp_path / "mine" / "digits", n_train=20, n_test=10)
    write_mnist_folder(tmp_path / "system-datasets" / "digits", n_train=30, n_test=10)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        load_dataset(idx_dataset(), tmp_path / "mine")


def test_download_verifies_sha256_and_caches(tmp_path):
    served = write_mnist_folder(tmp_path / "server", n_train=20, n_test=10)
    from zoo.files import sha256_file

    remotes = tuple(zoo.RemoteFile(f"file://{served / name}", sha256_file(served / name), "datasets/digits")
                    for name in STANDARD_FILES)
    spec = idx_dataset(downloads=remotes)
    assert locate(spec).kind == "download"
    splits = load_dataset(spec)
    assert len(splits.x_train) == 20 and splits.origin.startswith("download ")
    # The second time it comes from the Keras cache, hash-checked.
    assert locate(spec).kind == "Keras cache"
    assert load_dataset(spec).origin.startswith("Keras cache ")


def test_download_with_wrong_checksum_is_discarded(tmp_path):
    served = write_mnist_folder(tmp_path / "server", n_train=20, n_test=10)
    remotes = (zoo.RemoteFile(f"file://{served / STANDARD_FILES[0]}", "0" * 64, "datasets/digits"),)
    with pytest.raises(DataError, match="failed its sha256 check.*the file was discarded"):
        load_dataset(idx_dataset(downloads=remotes))
    assert not (tmp_path / "keras-home" / "datasets" / "digits" / STANDARD_FILES[0]).exists()


def test_stale_cache_file_is_downloaded_again(tmp_path):
    served = write_mnist_folder(tmp_path / "server", n_train=20, n_test=10)
    from zoo.files import sha256_file

    remotes = tuple(zoo.RemoteFile(f"file://{served / name}", sha256_file(served / name), "datasets/digits")
                    for name in STANDARD_FILES)
    cache = write_mnist_folder(tmp_path / "keras-home" / "datasets" / "digits", n_train=5, n_test=5)
    assert "sha256 mismatch" in next(p for p in places(idx_dataset(remotes)) if p.kind == "Keras cache").missing
    assert len(load_dataset(idx_dataset(remotes)).x_train) == 20
    assert sha256_file(cache / STANDARD_FILES[0]) == remotes[0].sha256


def test_no_network_and_no_copy_lists_every_place(tmp_path):
    remotes = (zoo.RemoteFile("http://127.0.0.1:9/nothing-here.npz", "0" * 64),)
    with pytest.raises(DataError) as error:
        load_dataset(idx_dataset(remotes, read_downloads=lambda paths: None), tmp_path / "mine")
    message = str(error.value)
    for expected in ("dataset 'digits' not found; tried:", f"data dir {tmp_path / 'mine'}",
                     f"Keras cache {tmp_path / 'keras-home' / 'datasets' / 'nothing-here.npz'} (missing",
                     f"system {tmp_path / 'system-datasets'}", "download http://127.0.0.1:9/nothing-here.npz"):
        assert expected in message
    assert "\n" not in message


def test_labels_outside_the_classes_are_refused(tmp_path):
    spec = zoo.DatasetSpec(name="two", task="classification", description="x", class_names=("a", "b"),
                           load=lambda: zoo.Splits(np.zeros((3, 1)), np.array([0, 1, 2]), np.zeros((1, 1)), np.array([0])))
    with pytest.raises(DataError, match="train labels range 0..2, but the dataset has 2 classes"):
        load_dataset(spec)


def test_mnist_reads_keras_npz_from_cache(tmp_path, registry):
    spec = registry.dataset("mnist")
    cache = tmp_path / "keras-home" / "datasets"
    cache.mkdir(parents=True)
    arrays = {"x_train": np.zeros((6, 28, 28), np.uint8), "y_train": np.arange(6) % 10,
              "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.array([1, 2])}
    np.savez(cache / "mnist.npz", **arrays)
    place = next(p for p in places(spec) if p.kind == "Keras cache")
    assert place.missing == "sha256 mismatch in mnist.npz"  # not the published file, so not trusted
    from zoo_plugins.datasets.mnist import read_keras_npz

    assert read_keras_npz([cache / "mnist.npz"]).x_train.shape == (6, 28, 28)


def test_builtin_datasets(registry):
    fashion = registry.dataset("fashion_mnist")
    assert fashion.class_names == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                   "Sneaker", "Bag", "Ankle boot")
    assert registry.dataset("mnist").class_names == tuple("0123456789")
    iris = load_dataset(registry.dataset("iris"))
    assert (len(iris.x_train), len(iris.x_test)) == (112, 38)
    assert registry.dataset("iris").class_names == ("setosa", "versicolor", "virginica")
    again = load_dataset(registry.dataset("iris"))
    np.testing.assert_array_equal(iris.x_test, again.x_test)  # the fixed seed
    curves = load_dataset(registry.dataset("functions"))
    assert curves.x_train.shape == (1000, 1) and curves.y_train.shape == (1000, 4)
    assert registry.dataset("functions").target_names == ("square", "sin", "abs", "step")
    assert set(curves.files) == {"x_train", "y_train", "x_test", "y_test"}


def test_fashion_loads_from_debian_folder(tmp_path, registry):
    write_mnist_folder(tmp_path / "system-datasets" / "fashion-mnist", n_train=20, n_test=10)
    place = locate(registry.dataset("fashion_mnist"))
    assert place.kind == "system" and place.path == str(tmp_path / "system-datasets" / "fashion-mnist")


@pytest.mark.full_data
@pytest.mark.parametrize("name, folder", [("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")])
def test_full_datasets_parse(full_data, registry, name, folder):
    splits = load_dataset(registry.dataset(name), full_data)
    assert splits.x_train.shape == (60000, 28, 28) and splits.x_test.shape == (10000, 28, 28)
    assert np.bincount(splits.y_train).tolist() == np.bincount(splits.y_train, minlength=10).tolist()
    assert len(np.unique(splits.y_test)) == 10
    assert splits.origin == f"data dir {full_data / folder}"
