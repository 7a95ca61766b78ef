"""The IDX reader on generated files: every dtype, gzip or not, and each way a file can be wrong."""

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idxfiles import idx_bytes, learnable_images, write_idx, write_mnist_folder
from zoo.idx import IdxError, load_idx, load_idx_pair, parse_idx, read_idx_folder


@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_every_type(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    loaded = load_idx(write_idx(tmp_path / "a.idx", array, compress))
    assert loaded.shape == (2, 3, 4)
    assert loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_reads_standard_folder(tmp_path):
    splits = read_idx_folder(write_mnist_folder(tmp_path / "mnist", n_train=30, n_test=20))
    assert splits.x_train.shape == (30, 28, 28) and splits.y_train.shape == (30,)
    assert splits.x_test.shape == (20, 28, 28) and splits.y_test.shape == (20,)
    assert splits.x_train.dtype == np.uint8
    assert set(splits.files) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert all(len(digest) == 64 for digest in splits.files.values())


def test_bad_magic_names_file(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(IdxError, match=r"x\.idx: bad magic number 0x01020801"):
        load_idx(path)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(IdxError, match="bad magic number"):
        load_idx(path)


def test_length_disagrees_with_dimensions(tmp_path):
    data = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(IdxError, match=r"short\.gz: file length 3142 bytes does not match its header: "
                                       r"dimensions \(4, 28, 28\)"):
        load_idx(path)


def test_extra_bytes_are_refused(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(idx_bytes(np.zeros(3, np.uint8)) + b"\x00")
    with pytest.raises(IdxError, match="does not match its header"):
        load_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t.gz"
    images, _ = learnable_images(50, seed=0)
    blob = gzip.compress(idx_bytes(images))
    path.write_bytes(blob[:len(blob) // 2])
    with pytest.raises(IdxError, match=r"t\.gz: corrupt or truncated gzip data"):
        load_idx(path)


def test_corrupt_gzip(tmp_path):
    blob = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8).reshape(10, 100))))
    blob[20:30] = b"\xff" * 10
    path = tmp_path / "c.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(IdxError, match=r"c\.gz: corrupt or truncated gzip data"):
        load_idx(path)


def test_header_too_short_and_zero_dimensions():
    with pytest.raises(IdxError, match="too short"):
        parse_idx(b"\x00\x00", "h")
    with pytest.raises(IdxError, match="0 dimensions"):
        parse_idx(b"\x00\x00\x08\x00", "h")
    with pytest.raises(IdxError, match="truncated header"):
        parse_idx(b"\x00\x00\x08\x03\x00\x00\x00\x01", "h")


def test_absurd_dimensions_refused_before_allocating():
    header = b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3
    with pytest.raises(IdxError, match="too large to be real"):
        parse_idx(header, "huge")


def test_missing_file(tmp_path):
    with pytest.raises(IdxError, match=r"nope\.gz: cannot read"):
        load_idx(tmp_path / "nope.gz")


def test_label_and_image_counts_must_agree(tmp_path):
    images, labels = learnable_images(10, seed=0)
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab.gz", labels[:9])
    with pytest.raises(IdxError, match=r"img\.gz holds 10 images but .*lab\.gz holds 9 labels"):
        load_idx_pair(tmp_path / "img.gz", tmp_path / "lab.gz", 10)


def test_labels_out_of_range(tmp_path):
    images, labels = learnable_images(10, seed=0)
    labels[3] = 12
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab.gz", labels)
    with pytest.raises(IdxError, match=r"lab\.gz: labels range 0\.\.12, expected 0\.\.9"):
        load_idx_pair(tmp_path / "img.gz", tmp_path / "lab.gz", 10)


def test_swapped_files_are_caught(tmp_path):
    images, labels = learnable_images(10, seed=0)
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab.gz", labels)
    with pytest.raises(IdxError, match=r"lab\.gz: expected images of shape \(N, rows, cols\)"):
        load_idx_pair(tmp_path / "lab.gz", tmp_path / "img.gz", 10)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_any_bytes_give_data_or_idx_error(data):
    try:
        array = parse_idx(data, "fuzz")
    except IdxError:
        return
    assert array.size * array.dtype.itemsize + 4 + 4 * array.ndim == len(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4, max_size=40), st.integers(0, 255), st.integers(1, 3))
def test_fuzz_valid_magic_random_rest(tail, code, ndim):
    try:
        parse_idx(bytes([0, 0, code, ndim]) + tail, "fuzz")
    except IdxError:
        pass
