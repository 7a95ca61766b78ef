"""Every Keras backend compared in one place: the benchmark JSON merged per entry (zoo.backends), the table in
benchmarks/results/README.md, the leaderboard's tables and `zoo info`'s fastest backend."""

import json
from pathlib import Path

import pytest

from zoo import backends
from zoo.cli import main

REPO = Path(__file__).resolve().parent.parent
CPU = "Test CPU (2 cores)"


def bench_file(folder: Path, name: str, created: str, rows: list[dict]) -> Path:
    """A pytest-benchmark JSON file holding ``rows`` as extra_info."""
    path = folder / "Linux-CPython-3.11-64bit" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"datetime": created, "benchmarks": [{"extra_info": r} for r in rows]}))
    return path


def rate(model, mode, backend, value, batch=32, device="cpu"):
    return {"model": model, "mode": mode, "backend": backend, "device": device, "device_name": CPU,
            "samples_per_sec": value, "batch_size": batch}


@pytest.fixture
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    bench_file(folder, "0001_old.json", "2026-11-01T00:00:00", [rate("iris_mlp", "train", "tensorflow", 1.0)])
    bench_file(folder, "0002_tf.json", "2026-11-24T10:00:00", [
        rate("iris_mlp", "train", "tensorflow", 90_000.0), rate("iris_mlp", "infer_keras", "tensorflow", 700_000.0, 256),
        rate("mnist_cnn", "train", "tensorflow", 10_000.0),
        {"model": "iris_mlp", "mode": "overhead", "backend": "tensorflow", "device": "cpu", "device_name": CPU,
         "steady_speedup": 3.1, "speedup": 2.6, "steps_per_execution": 50}])
    bench_file(folder, "0003_jax.json", "2026-11-24T11:00:00", [
        rate("iris_mlp", "train", "jax", 250_000.0), rate("iris_mlp", "infer_keras", "jax", 500_000.0, 256),
        rate("mnist_cnn", "train", "jax", 3_000.0), rate("iris_mlp", "train", "jax", 1e9, device="gpu")])
    (folder / "broken.json").write_text("{not json")
    return folder


def test_the_newest_file_wins_and_the_fastest_backend_is_named(results):
    comparisons = backends.compare(backends.read_rates(results))
    iris = next(c for c in comparisons if c.model == "iris_mlp" and c.device == "cpu")
    assert iris.rates[("train", "tensorflow")] == 90_000.0  # not the older file's 1.0
    assert iris.fastest("train")[0] == "jax" and iris.fastest("Keras b256")[0] == "tensorflow"
    gpu = next(c for c in comparisons if c.device == "gpu")
    assert gpu.fastest("train") is None  # one backend measured there: nothing to compare
    line = backends.fastest_line("iris_mlp", comparisons)
    assert line.startswith("JAX trains fastest on cpu (250,000 samples/s; TensorFlow 90,000)")
    assert "TensorFlow infers fastest (Keras, batch 256)" in line and CPU in line
    assert backends.fastest_line("mnist_cnn", comparisons).startswith("TensorFlow trains fastest")
    assert backends.fastest_line("fn_abs", comparisons) is None


def test_markdown_tables_per_device_and_the_readme_markers(results, tmp_path):
    table = backends.markdown(backends.compare(backends.read_rates(results)))
    assert f"**CPU: {CPU}**" in table and f"**GPU: {CPU}**" in table
    assert "| iris_mlp | 90,000 | 250,000 | JAX | — | — | — | 700,000 | 500,000 | TensorFlow |" in table
    speedups = backends.speedup_markdown(backends.read_speedups(results))
    assert "| iris_mlp | 3.10×; 2.60×; 50 |" in speedups
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{backends.START}\nold\n{backends.END}\noutro\n")
    assert backends.main(["--results", str(results), "--write", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text and table in text
    with pytest.raises(ValueError, match="markers"):
        backends.rewrite("no markers here", table)


def test_committed_readme_table_matches_the_committed_json():
    readme = (REPO / "benchmarks" / "results" / "README.md").read_text()
    folder = REPO / "benchmarks" / "results"
    table = backends.markdown(backends.compare(backends.read_rates(folder)))
    speedups = backends.speedup_markdown(backends.read_speedups(folder))
    expected = f"{table}\n\n{speedups}" if speedups else table
    assert backends.rewrite(readme, expected) == readme, (
        "benchmarks/results/README.md is out of date: python -m zoo.backends --write benchmarks/results/README.md")


def test_zoo_info_names_the_fastest_backend(results, monkeypatch, capsys):
    monkeypatch.setattr(backends, "default_folder", lambda: results)
    assert main(["info", "iris_mlp"]) == 0
    out = capsys.readouterr().out
    assert "backends:     JAX trains fastest on cpu (250,000 samples/s; TensorFlow 90,000)" in out
    assert main(["info", "fn_abs"]) == 0
    assert "backends:     not compared yet" in capsys.readouterr().out


def test_leaderboard_shows_the_backend_tables(results, tmp_path):
    from zoo.web.leaderboard import write_leaderboard

    page = write_leaderboard(tmp_path / "runs", results).read_text()
    assert "<h2>Keras backends</h2>" in page and "<td>iris_mlp</td><td class=num>90,000</td>" in page


def test_the_shipped_auto_table_is_what_the_committed_results_make():
    """zoo/backend_table.json (what --backend auto chooses from) cannot drift from benchmarks/results."""
    made = backends.table_text(backends.choice_table(backends.compare(backends.read_rates(REPO / "benchmarks" / "results"))))
    shipped = REPO / "zoo" / "backend_table.json"
    assert shipped.read_text(encoding="utf-8") == made, \
        "regenerate it: python -m zoo.backends --table zoo/backend_table.json"


def test_the_auto_table_orders_backends_by_training_speed(results):
    table = backends.choice_table(backends.compare(backends.read_rates(results)))
    assert table["devices"]["cpu"]["iris_mlp"]["order"] == ["jax", "tensorflow"]
    assert table["devices"]["cpu"]["mnist_cnn"]["order"] == ["tensorflow", "jax"]
    assert table["devices"]["gpu"] == {}  # one backend measured on the GPU: nothing to choose from
