"""Training: the repeated-batches stream, throughput accounting, NaN detection, evaluation."""

import numpy as np
import pytest

from plugin_fakes import tiny_dataset, tiny_model
from zoo.datasets import load_dataset
from zoo.errors import TrainingError
from zoo.evaluate import evaluate
from zoo.prepare import Prepared, prepare
from zoo.training import RepeatedBatches, TrainSettings, train


def test_repeated_batches_cover_every_sample_evenly():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    stream = RepeatedBatches(x, x[:, 0], batch_size=4, steps=5, seed=0)
    seen = []
    for epoch in range(2):
        stream.on_epoch_begin()
        batches = [stream[i] for i in range(len(stream))]
        assert len(batches) == 5 and all(len(b[0]) == 4 for b in batches)
        seen += [int(v) for b in batches for v in b[0][:, 0]]
    # 40 draws from a stream of whole permutations: every sample exactly 4 times, in two different orders.
    assert np.bincount(seen).tolist() == [4] * 10
    assert seen[:20] != seen[20:]


def test_repeated_batches_pair_inputs_with_their_targets():
    x = np.arange(7, dtype="float32").reshape(7, 1)
    stream = RepeatedBatches(x, x[:, 0] * 10, batch_size=3, steps=4, seed=1)
    for i in range(4):
        inputs, targets = stream[i]
        np.testing.assert_array_equal(inputs[:, 0] * 10, targets)


def test_train_and_evaluate_tiny_model():
    spec, dataset = tiny_model(), tiny_dataset()
    data = prepare(spec, dataset, load_dataset(dataset))
    result = train(spec, data, TrainSettings.of(spec, epochs=3), device="cpu", verbose=0)
    assert len(result.history["loss"]) == 3 and "val_accuracy" in result.history
    assert result.train_samples == 3 * 30
    assert result.samples_per_sec > 0 and result.train_seconds <= result.wall_seconds
    assert result.device.kind == "cpu"
    scores = evaluate(spec, dataset, result.model, data)
    assert 0.0 <= scores.metrics["accuracy"] <= 1.0
    assert sum(map(sum, scores.confusion)) == 10
    assert set(scores.per_class) == {"a", "b"}


def test_steps_per_epoch_counts_samples():
    spec, dataset = tiny_model(), tiny_dataset()
    data = prepare(spec, dataset, load_dataset(dataset))
    settings = TrainSettings(epochs=2, batch_size=8, steps_per_epoch=5, validate=False)
    result = train(spec, data, settings, device="cpu", verbose=0)
    assert result.train_samples == 2 * 5 * 8


def test_nan_loss_stops_training():
    spec = tiny_model()
    x = np.full((16, 2), np.nan, dtype="float32")
    y = np.zeros(16, dtype="int64")
    data = Prepared(x, y, x[:4], y[:4], y[:4])
    with pytest.raises(TrainingError, match="loss became NaN or infinite in epoch 1 of 2.*nothing was exported"):
        train(spec, data, TrainSettings.of(spec, epochs=2), device="cpu", verbose=0)


def test_override_settings():
    spec = tiny_model()
    settings = TrainSettings.of(spec, epochs=4, batch_size=2, seed=7)
    assert (settings.epochs, settings.batch_size, settings.seed) == (4, 2, 7)
    assert TrainSettings.of(spec).epochs == spec.fit.epochs


def sum_model_spec(steps: int, batch: int, epochs: int):
    """A model whose loss on a batch is the mean of its inputs: the epoch loss shows which rows it saw."""
    import keras

    import zoo

    def build():
        return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones",
                                                                        trainable=False)])

    return zoo.ModelSpec(name="summer", dataset="rows", build=build, description="identity",
                         tutorial=zoo.Tutorial("t", "s"), reference=zoo.Reference("mse", None),
                         compile=zoo.CompileSettings(optimizer="sgd", loss="mae", metrics=()),
                         fit=zoo.FitSettings(epochs, batch, steps_per_epoch=steps, validate=False), outputs="values")


@pytest.mark.parametrize("stream_bytes", [None, 0], ids=["arrays", "pydataset"])
def test_each_epoch_reads_the_next_part_of_the_shuffled_stream(monkeypatch, stream_bytes):
    import zoo.training
    from zoo.training import shuffled_stream

    if stream_bytes is not None:
        monkeypatch.setattr(zoo.training, "STREAM_BYTES", stream_bytes)
    steps, batch, epochs, n = 5, 4, 3, 50
    x = np.random.default_rng(0).uniform(0, 100, (n, 1)).astype("float32")  # every part has its own mean
    data = Prepared(x, np.zeros((n, 1), "float32"), x, np.zeros((n, 1), "float32"), np.zeros(n))
    spec = sum_model_spec(steps, batch, epochs)
    result = train(spec, data, TrainSettings.of(spec, seed=3), device="cpu", verbose=0)
    part = steps * batch
    rows, _ = shuffled_stream(n, part * (epochs + 1), np.random.default_rng(3))
    expected = [x[rows[e * part:(e + 1) * part]].mean() for e in range(epochs + 1)]
    assert len(set(np.round(expected, 4))) == epochs + 1  # the parts differ, so the check below can fail
    # Epochs read consecutive parts of the stream. Arrays start at the first part; a PyDataset may
    # start one part later where the backend reads an epoch's worth ahead to learn shapes (JAX).
    offsets = [0] if stream_bytes is None else [0, 1]
    assert any(np.allclose(result.history["loss"], expected[k:k + epochs], rtol=1e-5) for k in offsets), (
        result.history["loss"], expected)


def dropout_spec(steps_per_epoch: int | None, batch: int, epochs: int):
    """A small classifier with dropout (so the random stream matters too) on the tiny dataset."""
    import keras

    import zoo

    def build():
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dropout(0.3), keras.layers.Dense(2, activation="softmax")])

    return zoo.ModelSpec(name="dropper", dataset="tiny", build=build, description="dense, dropout",
                         tutorial=zoo.Tutorial("t", "s"), reference=zoo.Reference("accuracy", None),
                         compile=zoo.CompileSettings(), fit=zoo.FitSettings(epochs, batch, steps_per_epoch))


def train_weights(spec, steps_per_execution):
    """The weights, history and optimizer step count after training ``spec`` with seed 5."""
    import dataclasses

    dataset = tiny_dataset()
    data = prepare(spec, dataset, load_dataset(dataset))
    settings = dataclasses.replace(TrainSettings.of(spec, seed=5), steps_per_execution=steps_per_execution)
    result = train(spec, data, settings, device="cpu", verbose=0)
    return ([w.copy() for w in result.model.get_weights()], result.history,
            int(result.model.optimizer.iterations.numpy()), result.steps_per_execution)


# 30 training rows in batches of 8: three full batches and a partial one per epoch (arrays), and a
# fixed 6 steps per epoch over the shuffled, repeated stream (as iris_mlp trains).
@pytest.mark.parametrize("steps_per_epoch", [None, 6], ids=["arrays", "stream"])
def test_several_steps_per_call_train_the_same_math(steps_per_epoch):
    spec = dropout_spec(steps_per_epoch, batch=8, epochs=3)
    one, history_one, steps_one, k_one = train_weights(spec, 1)
    many, history_many, steps_many, k_many = train_weights(spec, None)  # zoo's choice
    import keras

    if keras.backend.backend() != "torch":
        assert k_one == 1 and k_many == (4 if steps_per_epoch is None else 6)  # a whole epoch per call
    assert steps_one == steps_many == 3 * (steps_per_epoch or 4)  # the same optimizer steps, no more
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history_one[key], history_many[key], rtol=1e-5, atol=1e-6)


def test_steps_per_execution_divides_a_fixed_epoch():
    from zoo.execution import MAX_STEPS, choose

    light = dict(step_flops=1e4, backend_name="tensorflow")
    assert choose(n_train=112, batch_size=32, steps_per_epoch=150, **light) == 50  # iris_mlp: 3 calls an epoch
    assert choose(n_train=1000, batch_size=32, steps_per_epoch=None, **light) == 32  # fn_*: one call an epoch
    assert choose(n_train=60000, batch_size=64, steps_per_epoch=None, **light) == MAX_STEPS
    assert choose(n_train=112, batch_size=32, steps_per_epoch=150, requested=8, **light) == 6
    assert choose(n_train=60000, batch_size=128, steps_per_epoch=None, step_flops=2.3e9,
                  backend_name="tensorflow") == 1  # a heavy step (mnist_cnn) keeps one step per call
    assert choose(n_train=112, batch_size=32, steps_per_epoch=150, step_flops=1e4, backend_name="torch") == 1


def test_ctrl_c_stops_at_a_call_boundary_with_several_steps_per_call():
    import signal

    import keras

    from zoo import interrupts
    from zoo.build import compile_model
    from zoo.training import fit_model

    spec = dropout_spec(6, batch=8, epochs=4)
    dataset = tiny_dataset()
    data = prepare(spec, dataset, load_dataset(dataset))

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 6:  # the second epoch's first call
                interrupts.handle(signal.SIGINT, None)

    model = compile_model(spec)
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            result = fit_model(model, data, TrainSettings.of(spec, validate=False), verbose=0, callbacks=[CtrlC()])
    calls = result.steps_per_execution
    assert calls == (1 if keras.backend.backend() == "torch" else 6)
    # Stopped after the call in flight (a whole epoch's 6 steps where one call runs them all), in epoch 2 of 4.
    assert int(model.optimizer.iterations.numpy()) == 6 + calls and len(result.history["loss"]) == 2
