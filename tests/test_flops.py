"""MACs of the layers plugin authors use: recurrent layers per timestep, lookups as free, and any layer with
weights that is not counted named rather than silently counted as 0."""

import keras
import pytest

from zoo.flops import count_macs


def test_an_embedding_and_lstm_network_counts_each_timestep():
    model = keras.Sequential([keras.Input((20,), dtype="int32"), keras.layers.Embedding(1000, 16),
                              keras.layers.LSTM(32), keras.layers.Dense(3, activation="softmax")])
    # LSTM: (16 x 128 kernel + 32 x 128 recurrent kernel) per timestep, 20 timesteps; Dense: 32 x 3.
    assert count_macs(model).total == (16 * 128 + 32 * 128) * 20 + 32 * 3
    assert count_macs(model).uncounted == ()


@pytest.mark.parametrize("layer, per_step", [
    (keras.layers.GRU(8), 4 * 24 + 8 * 24),
    (keras.layers.SimpleRNN(8), 4 * 8 + 8 * 8),
    (keras.layers.Bidirectional(keras.layers.LSTM(8)), 2 * (4 * 32 + 8 * 32)),
])
def test_other_recurrent_layers(layer, per_step):
    model = keras.Sequential([keras.Input((10, 4)), layer])
    assert count_macs(model).total == per_step * 10


def test_a_custom_layer_with_weights_is_named_not_counted_as_zero():
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(), Scale(name="scale"),
                              keras.layers.Dense(2)])
    count = count_macs(model)
    assert count.total == 4 * 2 and count.uncounted == ("scale (Scale)",)
