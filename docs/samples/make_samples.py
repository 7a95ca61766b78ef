"""Write the sample inputs the docs' examples use, from the reference set's own test vectors.

``digit.png`` (one 28x28 MNIST test digit, a 7), ``digits.npy`` (three of them: 7, 2, 1) and ``flowers.csv``
(the three Iris test rows of the test vectors: a setosa, a versicolor and a virginica, with a header row) are
the raw samples of ``reference/mnist_cnn/end_to_end/test_data_set_0`` and ``reference/iris_mlp/...``, which
hold the first test sample of each class. ``tests/test_docs.py`` checks the committed files are what this
script writes, so ``python docs/samples/make_samples.py`` after rebuilding the reference set keeps them in step.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent.parent / "reference"
DIGITS = (7, 2, 1)  # indices into the test vectors, which hold one test sample per class, class 0 first


def raw_vectors(name: str) -> np.ndarray:
    """The raw test samples of an entry's end-to-end test vectors."""
    import onnx
    from onnx import numpy_helper

    tensor = onnx.TensorProto()
    tensor.ParseFromString((REFERENCE / name / "end_to_end" / "test_data_set_0" / "input_0.pb").read_bytes())
    return numpy_helper.to_array(tensor)


def samples() -> dict[str, bytes]:
    """Each sample file's name and bytes."""
    from PIL import Image

    digits = raw_vectors("mnist_cnn")[list(DIGITS)]
    png = io.BytesIO()
    Image.fromarray(digits[0], mode="L").save(png, format="PNG")
    npy = io.BytesIO()
    np.save(npy, digits)
    rows = raw_vectors("iris_mlp")
    csv = "sepal_length,sepal_width,petal_length,petal_width\n" + "".join(
        ",".join(f"{v:g}" for v in row) + "\n" for row in rows)
    return {"digit.png": png.getvalue(), "digits.npy": npy.getvalue(), "flowers.csv": csv.encode()}


def main() -> int:
    for name, data in samples().items():
        (HERE / name).write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
