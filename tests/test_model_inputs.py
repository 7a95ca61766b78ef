"""What a plugin's model may take: numbers of any shape, images of any size and channels; text is refused before
training, in one line that says what to do instead."""

import numpy as np
import pytest

import zoo
from plugin_fakes import DatasetPlugin, ModelPlugin, source, tiny_model
from zoo.errors import ZooError
from zoo.plugins import build_registry
from zoo.run import RunOptions, run_model


def test_a_model_on_words_is_refused_before_training_in_one_line(tmp_path):
    def words() -> zoo.Splits:
        x = np.array([["good", "wine"], ["bad", "wine"]] * 10)
        y = np.array([1, 0] * 10)
        return zoo.Splits(x[:16], y[:16], x[16:], y[16:])

    dataset = zoo.DatasetSpec(name="tiny", task="classification", description="words", class_names=("a", "b"),
                              load=words)
    registry = build_registry([source("data", DatasetPlugin(dataset)), source("net", ModelPlugin(tiny_model()))])
    with pytest.raises(ZooError) as raised:
        run_model("tiny_net", RunOptions(epochs=1, out=tmp_path, verbose=0), registry)
    message = str(raised.value)
    assert "\n" not in message and "its dataset's samples are <U4 values (text or objects), not numbers" in message
    assert "map each word to an integer token id" in message
    assert not (tmp_path / "tiny_net").exists()  # refused before anything was trained or written


def colour_model() -> zoo.ModelSpec:
    def build():
        import keras

        return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                                 keras.layers.BatchNormalization(), keras.layers.Flatten(),
                                 keras.layers.Dense(2, activation="softmax")])

    return zoo.ModelSpec(name="colour_net", dataset="colours", build=build, description="8x8 RGB -> red or blue",
                         tutorial=zoo.Tutorial("test", "tests"), reference=zoo.Reference("accuracy", None),
                         compile=zoo.CompileSettings(), fit=zoo.FitSettings(epochs=2, batch_size=8),
                         preprocess=zoo.Preprocess(scale=1 / 255))


def colours() -> zoo.Splits:
    """8x8 RGB images, reddish (class 0) or bluish (class 1)."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = rng.integers(0, 100, size=(60, 8, 8, 3))
    x[y == 0, ..., 0] += 150
    x[y == 1, ..., 2] += 150
    return zoo.Splits(x[:40].astype("uint8"), y[:40], x[40:].astype("uint8"), y[40:])


@pytest.fixture(scope="module")
def colour_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("colour-runs")
    dataset = zoo.DatasetSpec(name="colours", task="classification", description="red or blue",
                              class_names=("red", "blue"), load=colours)
    registry = build_registry([source("data", DatasetPlugin(dataset)), source("net", ModelPlugin(colour_model()))])
    run = run_model("colour_net", RunOptions(out=out, verbose=0), registry)
    assert run.report["onnx"]["validation"]["class_mismatches"] == 0
    return out


def test_colour_png_and_jpeg_images_are_predicted_in_the_channels_the_model_takes(colour_runs, tmp_path, capsys):
    from PIL import Image

    from zoo.cli import main

    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 230
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(red).save(tmp_path / "red.jpg", quality=95)
    Image.fromarray(red[..., 0]).save(tmp_path / "grey.png")  # grey becomes colour for a colour model
    code = main(["predict", "colour_net", str(tmp_path / "red.png"), str(tmp_path / "red.jpg"),
                 str(tmp_path / "grey.png"), "--out", str(colour_runs), "--top", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["red.png", "red.jpg", "grey.png"]
    assert lines[0].split(": ")[1].startswith("red ") and lines[1].split(": ")[1].startswith("red ")

    Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(tmp_path / "tall.jpg")
    assert main(["predict", "colour_net", str(tmp_path / "tall.jpg"), "--out", str(colour_runs)]) == 1
    assert "tall.jpg: 8x16 pixels; colour_net takes 8x8x3 uint8 pixels 0-255, so resize it first" in \
        capsys.readouterr().err
    (tmp_path / "fake.jpg").write_text("not a jpeg")
    assert main(["predict", "colour_net", str(tmp_path / "fake.jpg"), "--out", str(colour_runs)]) == 1
    assert "fake.jpg: not a readable JPEG image" in capsys.readouterr().err


def tokens() -> zoo.Splits:
    """Sequences of 12 token ids out of 40; class 1 when token 7 occurs."""
    rng = np.random.default_rng(0)
    x = rng.integers(8, 40, size=(120, 12)).astype("int32")
    y = np.arange(120) % 2
    x[y == 1, rng.integers(0, 12)] = 7
    return zoo.Splits(x[:90], y[:90], x[90:], y[90:])


def token_model() -> zoo.ModelSpec:
    def build():
        import keras

        return keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(40, 8),
                                 keras.layers.LSTM(8), keras.layers.Dense(2, activation="softmax")])

    return zoo.ModelSpec(name="token_net", dataset="tokens", build=build, description="tokens -> Embedding -> LSTM",
                         tutorial=zoo.Tutorial("test", "tests"), reference=zoo.Reference("accuracy", None),
                         compile=zoo.CompileSettings(), fit=zoo.FitSettings(epochs=2, batch_size=16))


@pytest.fixture(scope="module")
def token_runs(tmp_path_factory):
    """A runs folder with token_net (Embedding + LSTM on token ids 0..39), trained and exported."""
    out = tmp_path_factory.mktemp("token-runs")
    dataset = zoo.DatasetSpec(name="tokens", task="classification", description="token sequences",
                              class_names=("no", "yes"), load=tokens)
    registry = build_registry([source("data", DatasetPlugin(dataset)), source("net", ModelPlugin(token_model()))])
    run = run_model("token_net", RunOptions(out=out, verbose=0), registry)
    assert run.report["onnx"]["validation"]["class_mismatches"] == 0
    # Embedding 0 MACs (a lookup), LSTM (8 x 32 + 8 x 32) per step over 12 steps, Dense 8 x 2: all counted.
    assert run.report["training"]["macs"] == (8 * 32 + 8 * 32) * 12 + 16
    assert run.report["training"]["macs_uncounted"] == []
    return out


def test_a_token_model_exports_its_vocabulary_and_predict_refuses_an_unknown_token(token_runs, tmp_path, capsys):
    from zoo.cli import main
    from zoo.exports.predict import open_export

    assert open_export("token_net", token_runs).metadata.raw_input_range == [0, 39]
    np.savetxt(tmp_path / "ok.csv", tokens().x_test[:2], delimiter=",", fmt="%d")
    assert main(["predict", "token_net", str(tmp_path / "ok.csv"), "--out", str(token_runs)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    (tmp_path / "unknown.csv").write_text(",".join(["9"] * 11 + ["40"]) + "\n")
    assert main(["predict", "token_net", str(tmp_path / "unknown.csv"), "--out", str(token_runs)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown.csv: value 40 is outside 0..39, the token ids token_net knows" in err
