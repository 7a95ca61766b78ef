"""Fashion-MNIST: 70,000 28x28 greyscale images of clothing in ten classes (Zalando)."""

import zoo
from zoo.idx import read_idx_folder

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# sha256 of the files keras.datasets.fashion_mnist downloads (identical to Debian's dataset-fashion-mnist).
SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="fashion_mnist",
        task="classification",
        description="Fashion-MNIST clothing images, 28x28 grey, 60,000 train + 10,000 test",
        class_names=CLASS_NAMES,
        folder_names=("fashion-mnist", "fashion_mnist"),
        folder_files=tuple(SHA256),
        read_folder=read_idx_folder,
        downloads=tuple(zoo.RemoteFile(KERAS_ORIGIN + name, digest, cache_subdir="datasets/fashion-mnist")
                        for name, digest in SHA256.items()),
        source="Zalando SE; MIT licence",
    ))
