"""The table of zoo's training against plain scripts (the benchmark suite's ``peers`` records).

One row per entry and device: the backend zoo trained under, each side's training samples/s, zoo's
ratios to the plain PyTorch and plain Keras scripts, and each side's peak resident memory. Reads the
records only (JSON): no Keras or TensorFlow import, so the docs and ``zoo bench compare`` can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from zoo.precision import FLOAT32, label, variant

HEADERS = ("model", "device", "zoo backend", "zoo/s", "PyTorch/s", "Keras/s", "zoo/PyTorch", "zoo/Keras",
           "zoo MiB", "PyTorch MiB", "Keras MiB", "zoo/Keras MiB")


def peer_records(results: Iterable[dict]) -> list[dict]:
    """The peer comparisons among benchmark records (``mode == "peers"``), sorted by entry and device."""
    return sorted((r for r in results if r.get("mode") == "peers"), key=lambda r: (r["model"], r["device"]))


def summary(records: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Headers and one row per peer record."""
    rows = []
    for r in peer_records(records):
        rows.append([r["model"], r["device"], _zoo_side(r),
                     *(f"{r[f'{side}_train_samples_per_sec']:,.0f}" for side in ("zoo", "torch", "keras")),
                     f"{r['zoo_over_torch']:.2f}×", f"{r['zoo_over_keras']:.2f}×",
                     *(_mib(r.get(f"{side}_peak_rss_bytes")) for side in ("zoo", "torch", "keras")),
                     f"{r['memory_over_keras']:.2f}×"])
    return list(HEADERS), rows


SHORT_HEADERS = ("entry", "zoo's backend", "zoo / plain PyTorch", "zoo / plain Keras", "zoo's peak memory / plain Keras")


def short_markdown(records: Sequence[dict]) -> str:
    """The ratios alone, one Markdown row per CPU record: the README's table."""
    lines = ["| " + " | ".join(SHORT_HEADERS) + " |", "|" + "---|" * len(SHORT_HEADERS)]
    for r in peer_records(records):
        if r["device"] == "cpu":
            lines.append(f"| `{r['model']}` | {_zoo_side(r)} | {r['zoo_over_torch']:.2f}× | "
                         f"{r['zoo_over_keras']:.2f}× | {r['memory_over_keras']:.2f}× |")
    return "\n".join(lines) + "\n"


def _mib(value: int | None) -> str:
    return "—" if not value else f"{value / 2**20:,.0f}"


def _zoo_side(record: dict) -> str:
    """How zoo's side trained: its backend, and its precision where that is not float32 (``TensorFlow bf16``)."""
    return label(variant(record["backend"], record.get("precision") or FLOAT32))
