"""The plain-script peers zoo's training is compared with, the comparison's records and table, and zoo.memory."""

from __future__ import annotations

import numpy as np
import pytest

from zoo import api, memory, peer_table
from zoo.backend_choice import Choice

torch = pytest.importorskip("torch", reason="the plain PyTorch peers need torch (pip install torch==2.13.0)")

from benchmarks.peers import compare, plain_torch  # noqa: E402  (after the skip: they import torch)


@pytest.mark.parametrize("name", sorted(plain_torch.PEERS))
def test_each_peer_is_the_entrys_network(name):
    """Same parameter count as zoo's model, and its outputs are the entry's (classes or one value)."""
    model = api.get_spec(name).build()
    peer = plain_torch.PEERS[name]
    assert plain_torch.param_count(peer.build()) == model.count_params()
    net = peer.build().eval()
    sample = torch.zeros((2, *model.input_shape[1:]))
    if peer.channels_first:
        sample = sample.permute(0, 3, 1, 2)
    assert tuple(net(sample).shape) == (2, model.output_shape[-1])


def test_every_builtin_entry_has_a_peer():
    builtin = {name for name in api.list_models() if api.plugin_of(name).builtin}
    assert len(builtin) >= 10 and builtin <= set(plain_torch.PEERS)


def test_the_plain_loop_learns():
    """A round is a real training pass: on separable data the loss falls and the steady state is timed."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    peer = plain_torch.PEERS["iris_mlp"]
    torch.manual_seed(0)
    trainer = plain_torch.Trainer(peer, *plain_torch.tensors(peer, x, y, torch.device("cpu")), 32,
                                  torch.device("cpu"))
    def loss() -> float:
        with torch.no_grad():
            return float(trainer.loss(trainer.model(trainer.x), trainer.y))

    before = loss()
    for _ in range(20):
        seconds, steady_steps, steady_seconds = trainer.round()
    assert loss() < 0.5 * before
    assert steady_steps == 640 // 32 - plain_torch.WARM_STEPS and 0 < steady_seconds < seconds


def test_tensors_take_zoos_layout():
    peer = plain_torch.PEERS["mnist_cnn"]
    x, y = plain_torch.tensors(peer, np.zeros((3, 28, 28, 1), "float32"), np.eye(10)[[1, 2, 3]],
                               torch.device("cpu"))
    assert tuple(x.shape) == (3, 1, 28, 28) and y.tolist() == [1, 2, 3]  # one-hot labels become indices


def _record(**over) -> dict:
    sides = {}
    for name, rate, peak in (("zoo", 200.0, 120), ("torch", 100.0, 100), ("keras", 50.0, 100)):
        side = compare.Side(name, process=None, ready={"baseline_rss_bytes": 10, "param_count": 7},
                            rounds=[{"seconds": 1.0, "steady_steps": 9, "steady_seconds": 9 * 32 / rate},
                                    {"seconds": 2.0, "steady_steps": 9, "steady_seconds": 2 * 9 * 32 / rate}],
                            end={"peak_rss_bytes": peak * 2**20})
        sides[name] = side
    return compare.record("m", "cpu", Choice("jax", "auto", "auto: why", "table"), 32, 10, sides)


def test_record_compares_the_fastest_rounds():
    r = _record()
    assert r["zoo_train_samples_per_sec"] == pytest.approx(200.0) and r["torch_train_samples_per_sec"] == 100.0
    assert r["zoo_over_torch"] == pytest.approx(2.0) and r["zoo_over_keras"] == pytest.approx(4.0)
    assert r["zoo_round_samples_per_sec"] == pytest.approx(320.0)  # the fastest whole round: 10 × 32 in 1 s
    assert r["memory_over_keras"] == pytest.approx(1.2) and r["rounds"] == 2
    assert (r["backend"], r["precision"], r["backend_choice"]) == ("jax", "float32", "auto: why")


def test_peer_table():
    headers, rows = peer_table.summary([_record(), {"mode": "train", "model": "x"}])
    assert len(rows) == 1
    row = dict(zip(headers, rows[0]))
    assert row["zoo backend"] == "JAX" and row["zoo/PyTorch"] == "2.00×" and row["zoo/Keras"] == "4.00×"
    assert row["zoo MiB"] == "120" and row["zoo/Keras MiB"] == "1.20×"


def test_a_failing_side_is_named():
    with pytest.raises(compare.PeerError, match="the torch side failed: UnknownNameError: unknown model 'no_such_entry'"):
        side = compare._start("torch", "no_such_entry", "cpu", 2, "tensorflow", None)
        try:
            side.read(120)
        finally:
            compare._stop(side.process)


def test_peak_window_sees_what_the_work_allocated():
    window = memory.PeakWindow("tensorflow").start()
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    del block
    found = window.record()
    if not found["peak_rss_windowed"]:
        pytest.skip("this kernel does not let a process reset its peak RSS (/proc/self/clear_refs)")
    assert found["rss_growth_bytes"] >= 60 * 2**20
    assert found["peak_rss_bytes"] >= found["rss_growth_bytes"] and found["gpu_peak_bytes"] is None
    again = memory.PeakWindow("tensorflow").start().record()
    assert again["rss_growth_bytes"] < 32 * 2**20  # a new window forgets the old peak


def test_worker_protocol_keeps_library_prints_off_stdout():
    """The worker's records are the only lines on its stdout, even when a library prints."""
    side = compare._start("torch", "iris_mlp", "cpu", 2, "tensorflow", None)
    try:
        ready = side.read(120)
        assert ready["ready"] and ready["param_count"] == 193 and ready["backend"] == "torch"
        assert side.ask("round", 60)["steady_steps"] == 2
        end = side.ask("done", 60)
        assert end["peak_rss_bytes"] > ready["baseline_rss_bytes"]
    finally:
        compare._stop(side.process)
    assert side.process.returncode == 0
