"""Training precision (zoo.precision): bfloat16 mixed precision where the table measured it faster and the
hardware has it, chosen with the backend; the trained model is float32 whatever precision trained it."""

import numpy as np
import pytest

from zoo import precision

AMX = frozenset({"avx512f", "amx_bf16", "amx_tile"})
NO_AMX = frozenset({"avx2", "avx512f", "avx512_bf16"})

TABLE = {"devices": {"cpu": {
    "mnist_cnn": {"order": ["tensorflow+mixed_bfloat16", "torch", "tensorflow", "jax"], "machine": "Test CPU",
                  "measured": "2026-12-07T00:00:00",
                  "train_samples_per_sec": {"tensorflow+mixed_bfloat16": 9000.0, "torch": 6500.0,
                                            "tensorflow": 6000.0, "jax": 2000.0}},
    "iris_mlp": {"order": ["jax", "tensorflow"], "machine": "Test CPU", "measured": "2026-12-07T00:00:00",
                 "train_samples_per_sec": {"jax": 300.0, "tensorflow": 100.0}}}, "gpu": {}}}


@pytest.fixture
def flags(monkeypatch):
    """Pretend the CPU has the given flags."""
    def set_flags(found):
        monkeypatch.setattr(precision, "cpu_flags", lambda path="/proc/cpuinfo": found)
    return set_flags


def choose(name, requested, *, env=None, precision_request="auto", have=("tensorflow", "jax", "torch"), **kwargs):
    from zoo.backend_choice import choose as real

    return real(name, requested, "cpu", env=env or {}, table=TABLE, is_installed=lambda b: b in have,
                precision=precision_request, **kwargs)


def test_cpu_flags_are_read_from_cpuinfo_and_only_amx_makes_bfloat16_usable(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n\n"
                       "processor\t: 1\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    found = precision.cpu_flags.__wrapped__(str(cpuinfo))
    assert {"amx_bf16", "avx512f"} <= found and "model" not in found
    assert precision.cpu_flags.__wrapped__(str(tmp_path / "absent")) == frozenset()
    assert precision.unusable("mixed_bfloat16", "cpu", found) is None
    assert precision.unusable("mixed_bfloat16", "cpu", NO_AMX) == "this CPU has no AMX-BF16"
    assert precision.unusable("float32", "cpu", frozenset()) is None
    assert precision.unusable("mixed_bfloat16", "gpu", frozenset()) is None  # the GPU row is trusted as measured


def test_variant_names_round_trip_and_read_as_users_say_them():
    assert precision.variant("tensorflow", "float32") == "tensorflow"
    assert precision.variant("tensorflow", "mixed_bfloat16") == "tensorflow+mixed_bfloat16"
    assert precision.split("tensorflow+mixed_bfloat16") == ("tensorflow", "mixed_bfloat16")
    assert precision.split("jax") == ("jax", "float32")
    assert precision.label("tensorflow+mixed_bfloat16") == "TensorFlow bf16" and precision.label("torch") == "PyTorch"
    with pytest.raises(ValueError, match="choose one of float32, mixed_bfloat16"):
        precision.check("float16")


def test_auto_takes_the_bfloat16_variant_only_where_the_cpu_has_amx(flags):
    flags(AMX)
    fast = choose("mnist_cnn", "auto")
    assert (fast.backend, fast.precision, fast.source) == ("tensorflow", "mixed_bfloat16", "table")
    assert fast.why.startswith("auto: TensorFlow bf16 trains mnist_cnn fastest on CPU")
    assert "TensorFlow bf16 9,000" in fast.why and fast.record()["precision"] == "mixed_bfloat16"
    flags(NO_AMX)
    plain = choose("mnist_cnn", "auto")
    # Without AMX the next variant in the measured order: PyTorch, in float32.
    assert (plain.backend, plain.precision) == ("torch", "float32")
    assert "faster TensorFlow bf16 not usable (this CPU has no AMX-BF16), so PyTorch" in plain.why and "\n" not in plain.why
    assert choose("iris_mlp", "auto").precision == "float32"  # nothing measured in bfloat16


def test_an_explicit_precision_or_backend_is_honoured(flags):
    from zoo.errors import ZooError

    flags(AMX)
    f32 = choose("mnist_cnn", "auto", precision_request="float32")
    assert (f32.backend, f32.precision) == ("torch", "float32") and f32.why.endswith("--precision float32")
    asked = choose("iris_mlp", "auto", precision_request="mixed_bfloat16")  # the fastest backend, in bfloat16
    assert (asked.backend, asked.precision) == ("jax", "mixed_bfloat16")
    # --backend tensorflow with auto precision: TensorFlow, in the precision measured fastest for it.
    tf = choose("mnist_cnn", "tensorflow")
    assert (tf.backend, tf.precision) == ("tensorflow", "mixed_bfloat16") and "auto precision: TensorFlow bf16" in tf.why
    from zoo.backend_choice import notes

    assert notes({"mnist_cnn": tf}, "tensorflow") == [f"mnist_cnn: {tf.why}"]  # said before training, as auto's
    assert choose("mnist_cnn", "torch").precision == "float32"
    by_env = choose("mnist_cnn", "auto", env={"KERAS_BACKEND": "tensorflow"})
    assert (by_env.backend, by_env.precision) == ("tensorflow", "mixed_bfloat16")
    flags(NO_AMX)
    assert choose("mnist_cnn", "tensorflow").precision == "float32"
    assert choose("mnist_cnn", "tensorflow", precision_request="mixed_bfloat16").precision == "mixed_bfloat16"
    # No backend asked for (zoo.train's default) and --distribute: float32, the table does not apply.
    assert choose("mnist_cnn", None).precision == "float32"
    flags(AMX)
    assert choose("mnist_cnn", "auto", distributed=True).precision == "float32"
    with pytest.raises(ZooError, match="--precision float16: choose one of auto, float32, mixed_bfloat16"):
        choose("mnist_cnn", "auto", precision_request="float16")


def test_a_childs_choice_keeps_its_precision_and_the_flags_retrain_it_exactly():
    import json

    from zoo.backend_choice import CHOICE_ENV, Choice, inherited

    choice = Choice("tensorflow", "auto", "why", "table", "mixed_bfloat16")
    assert choice.flags() == ["--backend", "tensorflow", "--precision", "mixed_bfloat16"]
    env = {CHOICE_ENV: json.dumps({"mnist_cnn": choice.record(), "odd": {**choice.record(), "precision": "fp8"}})}
    got = inherited(["mnist_cnn", "odd"], "tensorflow", env)
    assert got["mnist_cnn"].precision == "mixed_bfloat16" and got["odd"].precision == "float32"


def test_the_seed_processes_train_in_the_kept_runs_precision(monkeypatch):
    import zoo.cli
    import zoo.seeds
    from zoo.backend_choice import Choice, configured_backend

    passed = {}
    monkeypatch.setattr(zoo.seeds, "other_seeds", lambda name, seeds, options, jobs: passed.setdefault("o", options))
    args = zoo.cli.build_parser().parse_args(["run", "mnist_cnn", "--seeds", "0-2"])
    here = configured_backend()
    zoo.cli._other_seeds("mnist_cnn", (0, 1, 2), args, Choice(here, "auto", "why", "table", "mixed_bfloat16"))
    assert passed["o"][-4:] == ["--backend", here, "--precision", "mixed_bfloat16"]


def _tiny_classifier_data(n=64):
    from zoo.prepare import Prepared

    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    return Prepared(x, y, x[:16], y[:16], y[:16])


def _tiny_spec():
    import keras

    import zoo

    def build():
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                                 keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])

    return zoo.ModelSpec(name="tiny_cnn", dataset="tiny", build=build, description="tiny",
                         tutorial=zoo.Tutorial("test", "tests"), reference=zoo.Reference("accuracy", None),
                         compile=zoo.CompileSettings(optimizer="adam", loss="sparse_categorical_crossentropy"),
                         fit=zoo.FitSettings(epochs=2, batch_size=16))


def test_a_model_trained_in_bfloat16_comes_back_float32_with_the_same_weights():
    import keras

    from zoo.training import TrainSettings, train

    spec, data = _tiny_spec(), _tiny_classifier_data()
    result = train(spec, data, TrainSettings.of(spec, precision="mixed_bfloat16"), device="cpu", verbose=0)
    model = result.model
    assert precision.compute_dtype(model) == "float32" and result.settings.precision == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in model._flatten_layers(include_self=True)} == {"float32"}
    assert all(w.dtype == "float32" for w in model.weights) and len(result.history["loss"]) == 2
    # The same weights in a model built float32 from the start answer the same, in float32.
    fresh = spec.build()
    fresh.set_weights(model.get_weights())
    ours = keras.ops.convert_to_numpy(model(data.x_test, training=False))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(fresh(data.x_test, training=False)), atol=1e-6)


def test_building_under_a_policy_touches_only_that_build():
    import keras

    spec = _tiny_spec()
    with precision.building_under("mixed_bfloat16"):
        mixed = spec.build()
    assert precision.compute_dtype(mixed) == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32" and precision.compute_dtype(spec.build()) == "float32"
    with pytest.raises(ValueError), precision.building_under("float16"):
        pass
    assert keras.config.dtype_policy().name == "float32"


def test_a_bfloat16_softmax_passes_the_fit_checks():
    """A softmax computed in bfloat16 sums to 1 only within bfloat16's precision; the checks allow for that."""
    from zoo.build import check_fits, compile_model

    spec, data = _tiny_spec(), _tiny_classifier_data()
    check_fits(spec, compile_model(spec, precision="mixed_bfloat16"), data)


def test_benchmark_cases_and_rates_keep_the_precision_apart():
    from zoo import bench
    from zoo.backends import Comparison, _rates, choice_table

    found = bench.cases(["mnist_cnn"], ["cpu"], ("train",), precisions=("float32", "mixed_bfloat16"))
    assert [c.id for c in found] == ["mnist_cnn-train-cpu", "mnist_cnn-train-cpu-mixed_bfloat16"]
    records = [{"extra_info": {"mode": "train", "samples_per_sec": rate, "backend": "tensorflow", "model": "mnist_cnn",
                               "device": "cpu", "device_name": "Test CPU", **extra}}
               for rate, extra in ((6000.0, {"precision": "float32"}), (9000.0, {"precision": "mixed_bfloat16"}),
                                   (5000.0, {}))]  # a file from before precision was recorded: float32
    rates = list(_rates(records, "2026-12-07", "test"))
    assert [r.backend for r in rates] == ["tensorflow", "tensorflow+mixed_bfloat16", "tensorflow"]
    table = choice_table([Comparison("mnist_cnn", "cpu", "Test CPU", {("train", r.backend): r.samples_per_sec
                                                                      for r in rates[:2]}, "2026-12-07")])
    assert table["devices"]["cpu"]["mnist_cnn"]["order"] == ["tensorflow+mixed_bfloat16", "tensorflow"]


def test_your_bench_rates_rank_a_bfloat16_variant(tmp_path):
    from zoo import measured_backends

    path = tmp_path / "rates.json"
    results = [{"mode": "train", "model": "wine_cnn", "device": "cpu", "device_name": "Test CPU", "backend": "tensorflow",
                "samples_per_sec": s, **extra} for s, extra in ((100.0, {"precision": "float32"}),
                                                                 (180.0, {"precision": "mixed_bfloat16"}))]
    assert measured_backends.record(results, path) == 2
    assert measured_backends.table(path)["cpu"]["wine_cnn"]["order"] == ["tensorflow+mixed_bfloat16", "tensorflow"]


def test_the_peer_table_names_zoos_precision():
    from zoo.peer_table import short_markdown

    record = {"model": "mnist_cnn", "mode": "peers", "device": "cpu", "backend": "tensorflow",
              "precision": "mixed_bfloat16", "zoo_over_torch": 1.4, "zoo_over_keras": 1.6, "memory_over_keras": 1.0}
    assert "| `mnist_cnn` | TensorFlow bf16 | 1.40× |" in short_markdown([record])
    assert "| `mnist_cnn` | TensorFlow | 1.40× |" in short_markdown([{**record, "precision": "float32"}])
