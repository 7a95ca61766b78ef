"""MNIST: 70,000 28x28 greyscale handwritten digits (60,000 train, 10,000 test)."""

from pathlib import Path

import numpy as np

import zoo
from zoo.idx import STANDARD_FILES, read_idx_folder

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def read_keras_npz(paths: list[Path]) -> zoo.Splits:
    """Read the ``mnist.npz`` that ``keras.datasets.mnist`` downloads and caches."""
    (path,) = paths
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[key] for key in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError) as exc:
        raise zoo.DataError(f"{path}: not a readable Keras mnist.npz ({exc}); delete it to download again") from exc
    return zoo.Splits(*arrays)


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="mnist",
        task="classification",
        description="MNIST handwritten digits, 28x28 grey, 60,000 train + 10,000 test",
        class_names=tuple(str(d) for d in range(10)),
        folder_names=("mnist",),
        folder_files=STANDARD_FILES,
        read_folder=read_idx_folder,
        downloads=(zoo.RemoteFile(KERAS_ORIGIN + "mnist.npz",
                                  "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
        read_downloads=read_keras_npz,
        source="Y. LeCun, C. Cortes, C. Burges; CC BY-SA 3.0",
    ))
