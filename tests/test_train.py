"""Training: the repeated-batches stream, throughput accounting, NaN detection, evaluation."""

import numpy as np
import pytest

from plugin_fakes import tiny_dataset, tiny_model
from zoo.datasets import load_dataset
from zoo.errors import TrainingError
from zoo.evaluate import evaluate
from zoo.prepare import Prepared, prepare
from zoo.train import RepeatedBatches, TrainSettings, train


def test_repeated_batches_cover_every_sample_evenly():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    stream = RepeatedBatches(x, x[:, 0], batch_size=4, steps=5, seed=0)
    seen = []
    for epoch in range(2):
        batches = [stream[i] for i in range(len(stream))]
        assert len(batches) == 5 and all(len(b[0]) == 4 for b in batches)
        seen += [int(v) for b in batches for v in b[0][:, 0]]
        stream.on_epoch_end()
    # 40 draws from a stream of whole permutations: every sample exactly 4 times.
    assert np.bincount(seen).tolist() == [4] * 10


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
