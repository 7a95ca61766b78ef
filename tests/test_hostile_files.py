"""Hostile files given to `zoo predict` and `zoo.load_onnx(...).predict`: each is one line on stderr, a non-zero exit
and no traceback, with memory bounded by what the model takes, never by what a header claims."""

import json
import os
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.cli import main
from zoo.exports import predict as predict_module
from zoo.exports.predict import PredictError, open_export, read_samples


def predict(capsys, *argv):
    code = main(["predict", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, name, path, runs, *extra) -> str:
    code, out, err = predict(capsys, name, path, "--out", runs, *extra)
    assert code == 1 and out == "", (code, out, err)
    assert err.startswith("zoo: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def npy_header_only(path, shape, descr="<f4"):
    """A .npy file whose header declares ``shape`` and which holds no data at all."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(path, width, height, colour_type=6, rows=None):
    """A real PNG of ``width``x``height`` (RGBA by default); all-zero rows compress to almost nothing."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    compressor, parts = zlib.compressobj(9), []
    row = b"\x00" * (1 + width * channels)
    for _ in range(height if rows is None else rows):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type,
                                                                             0, 0, 0))
                     + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b""))
    return path


def test_an_npy_header_declaring_a_trillion_values_is_refused_before_reading(trained_runs, tmp_path, capsys):
    path = npy_header_only(tmp_path / "huge.npy", (250_000_000_000, 4))
    err = one_line_error(capsys, "iris_mlp", path, trained_runs)
    assert "huge.npy: its header declares shape (250000000000, 4)" in err and "truncated" in err
    wrong = npy_header_only(tmp_path / "wrong.npy", (10**12,))
    assert "an array of shape (1000000000000,); iris_mlp takes 4 float32 values" in \
        one_line_error(capsys, "iris_mlp", wrong, trained_runs)


def test_a_png_header_of_100000_pixels_square_is_refused_before_decoding(trained_runs, tmp_path, capsys, monkeypatch):
    path = png(tmp_path / "bomb.png", 100_000, 100_000, colour_type=0, rows=1)
    import PIL.Image

    def never(*args, **kwargs):
        raise AssertionError("Pillow opened an image whose size was already wrong")

    monkeypatch.setattr(PIL.Image, "open", never)
    err = one_line_error(capsys, "mnist_mlp", path, trained_runs)
    assert "bomb.png: 100000x100000 pixels; mnist_mlp takes 28x28 uint8 pixels 0-255, so resize it first" in err


def test_a_small_file_that_decodes_to_771_mb_is_never_decoded(trained_runs, tmp_path, capsys, monkeypatch):
    path = png(tmp_path / "rgba.png", 13370, 13370)
    assert path.stat().st_size < 1_000_000  # 695 kB on disk, 13370*13370*4 = 715 MB of pixels
    import PIL.Image

    opened = []
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: opened.append(a) or pytest.fail("decoded"))
    err = one_line_error(capsys, "mnist_mlp", path, trained_runs)
    assert "rgba.png: 13370x13370 pixels" in err and not opened


def test_a_right_sized_png_with_damaged_data_is_one_line(trained_runs, tmp_path, capsys):
    path = png(tmp_path / "cut.png", 28, 28, colour_type=0)
    path.write_bytes(path.read_bytes()[:44])  # into the compressed pixels
    assert "cut.png: not a readable PNG image" in one_line_error(capsys, "mnist_mlp", path, trained_runs)


def error_and_peak_memory(capsys, name, path, runs) -> tuple[str, int]:
    """The one-line error for ``path`` and the peak of Python's allocations while zoo read it."""
    tracemalloc.start()
    try:
        err = one_line_error(capsys, name, path, runs)
        return err, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("line", [
    ['"', *["1" * 1_000_000] * 200, '"\n'],  # one field of 200 MB
    [*["1.5," * 26_000] * 1000, "1\n"],  # 26 million values on one line
])
def test_a_csv_line_of_hundreds_of_mb_costs_no_more_than_a_row(trained_runs, tmp_path, capsys, line):
    path = tmp_path / "long.csv"
    with open(path, "w") as f:
        f.writelines(line)
    err, peak = error_and_peak_memory(capsys, "iris_mlp", path, trained_runs)
    assert "long.csv line 1: longer than 1,184 characters, more than a row of 4 values" in err
    assert peak < 20_000_000, f"peak {peak:,} bytes of Python allocations reading a {path.stat().st_size:,}-byte line"


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p / "big.npy", np.full(4, 1e300)), "big.npy: 1e+300 is beyond float32's range"),
    (lambda p: (p / "big.csv").write_text("5.1,3.5,1e308,0.2\n"), "big.csv: 1e+308 is beyond float32's range"),
    (lambda p: (p / "nan.csv").write_text("5.1,nan,1.4,0.2\n"), "nan.csv: holds NaN or infinite values"),
    (lambda p: (p / "huge.csv").write_text("3e38,3e38,3e38,3e38\n-3e38,3e38,-3e38,3e38\n"),
     "huge.csv line 1: iris_mlp's outputs are not finite numbers"),
])
def test_values_no_float32_holds_are_refused_not_printed_as_nan(trained_runs, tmp_path, capsys, make, message):
    make(tmp_path)
    (path,) = [p for p in tmp_path.iterdir() if p.suffix in (".npy", ".csv")]
    assert message in one_line_error(capsys, "iris_mlp", path, trained_runs, "--json")


def test_json_output_is_strict_json(trained_runs, tmp_path, capsys):
    (tmp_path / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    code, out, err = predict(capsys, "iris_mlp", tmp_path / "rows.csv", "--json", "--out", trained_runs)
    assert code == 0, err
    json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_a_csv_with_a_byte_order_mark_keeps_its_first_row(trained_runs, tmp_path, capsys):
    (tmp_path / "bom.csv").write_bytes("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n".encode("utf-8-sig"))
    code, out, err = predict(capsys, "iris_mlp", tmp_path / "bom.csv", "--out", trained_runs)
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == ["bom.csv line 1", "bom.csv line 2"]


def test_a_folder_a_fifo_and_a_device_are_named_for_what_they_are(trained_runs, tmp_path, capsys):
    (tmp_path / "rows.csv").mkdir()
    assert "rows.csv: a folder, not a file" in one_line_error(capsys, "iris_mlp", tmp_path / "rows.csv", trained_runs)
    os.mkfifo(tmp_path / "pipe.csv")  # opening it would block for ever: it must not be opened
    assert "pipe.csv: a FIFO, not a regular file" in one_line_error(capsys, "iris_mlp", tmp_path / "pipe.csv",
                                                                    trained_runs)
    (tmp_path / "null.npy").symlink_to("/dev/null")
    assert "null.npy: a device, not a regular file" in one_line_error(capsys, "iris_mlp", tmp_path / "null.npy",
                                                                      trained_runs)


def test_the_api_refuses_what_the_cli_refuses(trained_runs):
    export = open_export("iris_mlp", trained_runs)
    with pytest.raises(PredictError, match="1e\\+300 is beyond float32's range"):
        export.predict(np.full(4, 1e300))
    with pytest.raises(PredictError, match="outputs are not finite numbers"):
        export.predict(np.full((2, 4), 3e38, dtype=np.float32))


# What the generated bytes are dressed as: each reader `zoo predict` uses, for a model that takes that kind.
READERS = [("iris_mlp", ".csv"), ("iris_mlp", ".npy"), ("mnist_mlp", ".png"), ("mnist_mlp", ".jpg"),
           ("mnist_mlp", ".npy"), ("fn_square", ".csv")]
PREFIXES = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff\xe0", ".npy": b"\x93NUMPY\x01\x00", ".csv": b""}


@pytest.fixture(scope="module")
def exports(trained_runs):
    return {name: open_export(name, trained_runs) for name in {n for n, _ in READERS}}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(READERS), st.booleans(), st.binary(max_size=600))
def test_generated_bytes_give_one_line_or_a_correct_answer(exports, tmp_path, reader, with_prefix, data):
    name, suffix = reader
    export = exports[name]
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes((PREFIXES[suffix] if with_prefix else b"") + data)
    try:
        labels, batch = read_samples(path, export.metadata)
        predictions = predict_module.describe_predictions(export, labels, batch, 3)
    except PredictError as exc:
        assert "\n" not in str(exc) and str(exc).strip(), str(exc)
        return
    # A correct answer: one prediction per sample, finite, probabilities summing to one.
    assert len(predictions) == len(batch) == len(labels) >= 1
    for prediction in predictions:
        json.dumps(prediction.as_json(), allow_nan=False)
        if prediction.classes:
            assert 0.0 <= prediction.classes[0][1] <= 1.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                                   st.text(alphabet="0123456789.e-+,x \"", max_size=8)), max_size=6), max_size=5))
def test_generated_csv_rows_give_one_line_or_a_correct_answer(exports, tmp_path, rows):
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n")
    export = exports["iris_mlp"]
    try:
        labels, batch = read_samples(path, export.metadata)
        predictions = predict_module.describe_predictions(export, labels, batch, 3)
    except PredictError as exc:
        assert "\n" not in str(exc)
        return
    assert all(abs(sum(p for _, p in pred.classes) - 1) < 1e-4 for pred in predictions if len(pred.classes) == 3)
