"""Self-contained HTML pages: the leaderboard's shell and ``report.html``, a browser copy of ``report.md``.

Pages carry their CSS (and any script) inline and a Content-Security-Policy that allows
no network fetch at all, so they open the same from a file, a local server or an
archive, offline. Every piece of text is escaped with ``html.escape``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from zoo import files

IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)$")
# Inline style and script only; images only from beside the page (plots/) or data: URLs.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"

CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #66788a; --line: #d9e2ec; --head: #f0f4f8; --accent: #1565c0; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 24px auto; max-width: 1240px; padding: 0 20px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
p.lead, .muted { color: var(--muted); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--head); padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.num, th.num { text-align: right; }
img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); }
.gallery { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; margin: 8px 0 18px; }
.gallery img { max-height: 340px; width: auto; }
ul { padding-left: 20px; }
"""


def page(title: str, body: str, *, script: str = "", style: str = "") -> str:
    """A complete HTML document: ``body`` (already HTML) under an escaped ``title``, with inline CSS and script."""
    return "\n".join([
        "<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>", f"<style>{CSS}{style}</style>", "</head>", "<body>", body,
        f"<script>{script}</script>" if script else "", "</body>", "</html>", ""])


def markdown_to_html(markdown: str) -> str:
    """HTML for the Markdown that ``zoo.report.render_markdown`` writes.

    Handles exactly what reports use: ``#``/``##`` headings, pipe tables (first row the
    header), ``- `` lists, ``![alt](path)`` images on their own line, paragraphs, and
    inline code, bold and bare URLs. Everything else is shown as escaped text.
    """
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif heading := re.match(r"^(#{1,6}) (.*)$", line):
            level, text = len(heading.group(1)), heading.group(2)
            anchor = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")  # report.html#plots, as GitHub names them
            out.append(f'<h{level} id="{anchor}">{_inline(text)}</h{level}>')
            i += 1
        elif IMAGE.match(line.strip()):
            # Consecutive figures (blank lines between allowed) side by side, each a link to its full size.
            block = _take(lines, i, lambda text: not text.strip() or bool(IMAGE.match(text.strip())))
            figures = [IMAGE.match(text.strip()).groups() for text in block if text.strip()]
            out.append('<div class="gallery">' + "".join(
                f'<a href="{html.escape(src)}"><img src="{html.escape(src)}" alt="{html.escape(alt)}" '
                f'title="{html.escape(alt)}"></a>' for alt, src in figures) + "</div>")
            i += len(block)
        elif line.startswith("|"):
            block = _take(lines, i, lambda text: text.startswith("|"))
            out.append(_table(block))
            i += len(block)
        elif line.startswith("- "):
            block = _take(lines, i, lambda text: text.startswith("- "))
            out.append("<ul>" + "".join(f"<li>{_inline(item[2:])}</li>" for item in block) + "</ul>")
            i += len(block)
        else:
            block = _take(lines, i, lambda text: bool(text.strip()) and not re.match(r"^(#|\||- |!\[)", text))
            out.append(f"<p>{'<br>'.join(_inline(text) for text in block)}</p>")
            i += len(block)
    return "\n".join(out)


def write_report_html(markdown_path: Path) -> Path:
    """Write ``report.html`` beside ``report.md``: the same report, readable in a browser, plots included."""
    markdown_path = Path(markdown_path)
    text = markdown_path.read_text(encoding="utf-8")
    title = text.splitlines()[0].lstrip("# ").strip() if text.strip() else "report"
    dest = markdown_path.with_suffix(".html")
    files.write_text(dest, page(f"{title}: zoo report", markdown_to_html(text)))
    return dest


def _take(lines: list[str], start: int, belongs) -> list[str]:
    """The run of lines from ``start`` for which ``belongs`` holds."""
    end = start
    while end < len(lines) and belongs(lines[end]):
        end += 1
    return lines[start:end]


def _table(rows: list[str]) -> str:
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    cells = [row for row in cells if not all(re.fullmatch(r":?-{3,}:?", c) for c in row)]  # the |---| rule
    if not cells:
        return ""
    head, *body = cells
    parts = ["<table>", "<thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead>", "<tbody>"]
    for row in body:
        parts.append("<tr>" + "".join(f'<td{_num_class(c)}>{_inline(c)}</td>' for c in row) + "</tr>")
    return "\n".join([*parts, "</tbody>", "</table>"])


def _num_class(cell: str) -> str:
    return ' class="num"' if re.fullmatch(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?", cell) else ""


def _inline(text: str) -> str:
    """Escaped text with `code`, **bold** and bare http(s) URLs marked up; code spans are left literal."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show it as it is
        parts = [text]
    out = []
    for n, part in enumerate(parts):
        escaped = html.escape(part)
        if n % 2:
            out.append(f"<code>{escaped}</code>")
            continue
        escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
        escaped = re.sub(r"(https?://[^\s<>()]+[^\s<>().,;:])", r'<a href="\1">\1</a>', escaped)
        out.append(escaped)
    return "".join(out)
