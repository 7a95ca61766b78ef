"""How zoo's objects show in a notebook (``_repr_html_``): a run and a card as their report, figures included.

The figures are embedded as data URLs, since a notebook cannot resolve a path beside a report,
and the styles are scoped to the block so they leave the notebook's own alone.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.report import format_metric, render_markdown
from zoo.web.webpage import markdown_to_html

if TYPE_CHECKING:
    from zoo.cards import ModelCard
    from zoo.exports.predict import OnnxExport

STYLE = """<style>
.zoo-block { font: 13px/1.45 system-ui, sans-serif; }
.zoo-block table { border-collapse: collapse; margin: 6px 0 12px; }
.zoo-block th, .zoo-block td { border: 1px solid #d9e2ec; padding: 3px 8px; text-align: left; }
.zoo-block th { background: #f0f4f8; }
.zoo-block .gallery { display: flex; flex-wrap: wrap; gap: 10px; }
.zoo-block .gallery img { max-height: 300px; width: auto; }
</style>"""


def report_html(report: dict[str, Any], folder: Path) -> str:
    """A run's report as one HTML block, its figures inlined from ``folder``."""
    body = markdown_to_html(render_markdown(report))
    return f'{STYLE}<div class="zoo-block">{_inline_images(body, Path(folder))}</div>'


def card_html(card: ModelCard) -> str:
    """A card as a table of its facts, then the reference run's report, figures included."""
    rows = [("description", card.description), ("dataset · task", f"{card.dataset} · {card.task}"),
            ("plugin", card.plugin + (f" ({' '.join(v for v in (card.distribution, card.version) if v)})"
                                      if card.distribution else "")),
            ("tutorial", f"{card.tutorial_title} ({card.tutorial_source})"),
            (f"{card.metric}: tutorial", format_metric(card.metric, card.tutorial_in_metric)),
            (f"{card.metric}: reference run", _value(card, card.reference)),
            (f"{card.metric}: your latest run", _value(card, card.latest)),
            ("parameters · MACs", f"{_count(card.params)} · {_count(card.macs)}"),
            ("preprocessing", card.preprocessing),
            ("training", f"{card.epochs} epochs, batch {card.batch_size}"
                         + (f", {card.steps_per_epoch} steps per epoch" if card.steps_per_epoch else "")),
            ("ONNX file", str(card.onnx_file or "—"))]
    if card.build_error:
        rows.append(("build() failed", card.build_error))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    head = f'{STYLE}<div class="zoo-block"><h3>{html.escape(card.name)}</h3><table>{table}</table></div>'
    if card.reference is None:
        return head
    from zoo.report import read_report

    report = read_report(card.reference.folder)
    return head + (report_html(report, card.reference.folder) if report else "")


def export_html(export: OnnxExport) -> str:
    """An ONNX export as a short table: what it takes, what it gives, what it scored."""
    meta = export.metadata
    rows = [("file", str(export.path)), ("input", f"{meta.input_name} {meta.input_shape} ({meta.preprocessing})"),
            ("raw sample", f"{meta.raw_input_shape} {meta.raw_input_dtype}"),
            ("output", f"{meta.output_name} {meta.output_shape} ({meta.output_kind})"),
            ("classes" if meta.task == "classification" else "targets", ", ".join(meta.labels)),
            (meta.metric_name, format_metric(meta.metric_name, meta.metric_value))]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'{STYLE}<div class="zoo-block"><h3>{html.escape(meta.model_name)} (ONNX)</h3><table>{table}</table></div>'


def _value(card: ModelCard, result) -> str:
    if result is None:
        return "not run"
    return f"{format_metric(card.metric, result.value)} ({result.folder})"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _inline_images(body: str, folder: Path) -> str:
    """Every figure beside the report as a data URL (the links to full size dropped: nothing to link to)."""
    def inline(match: re.Match) -> str:
        path = folder / html.unescape(match.group(1))
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode("ascii")}"'

    body = re.sub(r'<a href="[^":]+\.png">', "<a>", body)
    return re.sub(r'src="([^":]+\.png)"', inline, body)
