"""Small line charts drawn as inline SVG: one point per stored run, x by date, for the leaderboard's history.

Drawn here in Python, so the page needs no script, library or fetch to show them. Every point is a
``<g class="point">`` whose ``<title>`` is its tooltip; a point with a ``flag`` (the regression gate's verdict)
also has the class ``flagged``, the verdict in ``data-flag`` and a red ring. Text is escaped.
"""

from __future__ import annotations

import datetime
import html
import math
from collections.abc import Callable
from dataclasses import dataclass

WIDTH, HEIGHT = 380, 210
LEFT, RIGHT, TOP, BOTTOM = 60, 14, 12, 44  # the plot area's margins, room for tick labels and axis titles
LOG_RATIO = 20.0  # values spanning more than this factor are drawn on a logarithmic axis
FLAG_COLOR = "#c62828"
PALETTE = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#00838f", "#8d6e63", "#ad1457", "#546e7a", "#9e9d24",
           "#283593", "#d84315", "#00695c")

STYLE = """
.history summary { cursor: pointer; padding: 4px 0; }
.history summary .flagged { color: #c62828; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; margin: 6px 0 14px; }
figure.history-chart { margin: 0; width: 380px; }
figure.history-chart figcaption { font-weight: 600; font-size: 13px; }
svg.chart { display: block; background: #fff; border: 1px solid var(--line); }
svg.chart text { font: 10px system-ui, sans-serif; fill: #52606d; }
svg.chart .grid { stroke: #e4e7eb; } svg.chart .axis { stroke: #9aa5b1; }
svg.chart .point:hover circle.dot { r: 5.5; }
ul.legend { list-style: none; padding: 0; margin: 4px 0 0; font-size: 11px; color: var(--muted); }
ul.legend li { display: inline-block; margin-right: 10px; white-space: nowrap; }
ul.legend .swatch { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
ul.legend .ring { display: inline-block; width: 8px; height: 8px; border: 2px solid #c62828; border-radius: 50%;
                  vertical-align: middle; margin-right: 4px; }
"""


def si(value: float) -> str:
    """``27.6k``, ``3M``, ``0.25``: a tick label of at most 3 significant digits."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Point:
    """One run's value, its tooltip, and why it is marked ('' when it is not)."""

    when: datetime.datetime  # timezone-aware
    value: float
    tip: str
    flag: str = ""


@dataclass(frozen=True)
class Series:
    """The points of one setting (a backend, a batch size...), drawn as one line in one colour."""

    label: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Chart:
    """One chart: its ``kind`` (the figure's data-chart), title, y-axis title with unit, and lines."""

    kind: str
    title: str
    y_label: str
    series: tuple[Series, ...]
    tick: Callable[[float], str] = si  # a y-axis tick's label

    @property
    def points(self) -> list[Point]:
        return [point for series in self.series for point in series.points]

    @property
    def flagged(self) -> int:
        return sum(bool(point.flag) for point in self.points)


@dataclass(frozen=True)
class Scale:
    """Maps a value range onto [0, 1]: linear with a tick ``step``, or logarithmic with a tick every decade."""

    low: float
    high: float
    step: float = 0.0  # 0: logarithmic

    def fraction(self, value: float) -> float:
        if not self.step:
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)

    def ticks(self) -> list[float]:
        if not self.step:
            first, last = round(math.log10(self.low)), round(math.log10(self.high))
            every = 1 if last - first <= 6 else 2
            return [10.0 ** k for k in range(first, last + 1, every)]
        count = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(count + 1)]


def value_scale(values: list[float]) -> Scale:
    """A scale over ``values`` with round ends: logarithmic when they span more than LOG_RATIO."""
    low, high = min(values), max(values)
    if low > 0 and high / low > LOG_RATIO:
        return Scale(10.0 ** math.floor(math.log10(low)), 10.0 ** math.ceil(math.log10(high)))
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = nice_step((high - low) / 4)
    bottom, top = math.floor(low / step) * step, math.ceil(high / step) * step
    return Scale(bottom - step * (bottom > low), top + step * (top < high), step)  # rounding kept them outside


def nice_step(rough: float) -> float:
    """1, 2 or 5 times a power of ten, the first not below ``rough``."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(f * power for f in (1, 2, 5, 10) if f * power >= rough * (1 - 1e-9))


def time_ticks(points: list[Point]) -> tuple[float, float, list[datetime.datetime]]:
    """The x range (POSIX seconds, padded) and up to three dated ticks: first run, middle, last run."""
    first, last = min(p.when for p in points), max(p.when for p in points)
    span = (last - first).total_seconds()
    pad = span * 0.06 or 12 * 3600.0
    ticks = [first] if span == 0 else [first, first + (last - first) / 2, last]
    return first.timestamp() - pad, last.timestamp() + pad, ticks


def date_label(when: datetime.datetime, span_days: float) -> str:
    utc = when.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%d") if span_days >= 2 else utc.strftime("%m-%d %H:%M")


def svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element (needs at least one point)."""
    points = chart.points
    low, high, ticks = time_ticks(points)
    scale = value_scale([p.value for p in points])

    def at(point: Point) -> tuple[float, float]:
        return _x((point.when.timestamp() - low) / (high - low)), _y(scale.fraction(point.value))

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{html.escape(chart.title)}" data-scale="{"linear" if scale.step else "log"}">',
             f"<title>{html.escape(chart.title)}</title>"]
    parts += _y_axis(scale, chart.tick) + _x_axis(ticks, lambda t: _x((t.timestamp() - low) / (high - low)))
    parts += _axis_titles(chart.y_label, "run date (UTC)")
    for index, series in enumerate(chart.series):
        parts.append(_series(series, PALETTE[index % len(PALETTE)], at))
    return "\n".join(parts + ["</svg>"])


def _x(fraction: float) -> float:
    return round(LEFT + fraction * (WIDTH - LEFT - RIGHT), 1)


def _y(fraction: float) -> float:
    return round(HEIGHT - BOTTOM - fraction * (HEIGHT - TOP - BOTTOM), 1)


def _y_axis(scale: Scale, label: Callable[[float], str]) -> list[str]:
    lines = [f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>']
    for tick in scale.ticks():
        y = _y(scale.fraction(tick))
        lines.append(f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
                     f'<text x="{LEFT - 4}" y="{y + 3}" text-anchor="end">{html.escape(label(tick))}</text>')
    return lines


def _x_axis(ticks: list[datetime.datetime], x: Callable[[datetime.datetime], float]) -> list[str]:
    span = (ticks[-1] - ticks[0]).total_seconds() / 86400
    base = HEIGHT - BOTTOM
    lines = [f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    for tick in ticks:
        lines.append(f'<line class="axis" x1="{x(tick)}" y1="{base}" x2="{x(tick)}" y2="{base + 4}"/>'
                     f'<text x="{x(tick)}" y="{base + 15}" text-anchor="middle">{date_label(tick, span)}</text>')
    return lines


def _axis_titles(y_label: str, x_label: str) -> list[str]:
    middle = (TOP + HEIGHT - BOTTOM) / 2
    return [f'<text class="y-label" x="12" y="{middle}" text-anchor="middle" '
            f'transform="rotate(-90 12 {middle})">{html.escape(y_label)}</text>',
            f'<text class="x-label" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" '
            f'text-anchor="middle">{html.escape(x_label)}</text>']


def _series(series: Series, color: str, at: Callable[[Point], tuple[float, float]]) -> str:
    ordered = sorted(series.points, key=lambda p: p.when)
    where = [at(p) for p in ordered]
    parts = [f'<g class="series" data-series="{html.escape(series.label)}">']
    if len(where) > 1:
        path = " ".join(f"{x},{y}" for x, y in where)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    parts += [_point(p, xy, color) for p, xy in zip(ordered, where)]
    return "".join(parts) + "</g>"


def _point(point: Point, xy: tuple[float, float], color: str) -> str:
    x, y = xy
    flag = f' data-flag="{html.escape(point.flag)}"' if point.flag else ""
    ring = f'<circle class="ring" cx="{x}" cy="{y}" r="7.5" fill="none" stroke="{FLAG_COLOR}" stroke-width="2.5"/>'
    return (f'<g class="point{" flagged" if point.flag else ""}" data-when="{point.when.isoformat()}" '
            f'data-value="{point.value!r}"{flag}><title>{html.escape(point.tip)}</title>'
            f'{ring if point.flag else ""}<circle class="dot" cx="{x}" cy="{y}" r="3.5" fill="{color}"/></g>')


def figure(chart: Chart) -> str:
    """The chart with its caption and legend as a ``<figure>``; a note instead of axes when it has no point."""
    count = len(chart.points)
    head = (f'<figure class="history-chart" data-chart="{html.escape(chart.kind)}" data-points="{count}" '
            f'data-flagged="{chart.flagged}"><figcaption>{html.escape(chart.title)}</figcaption>')
    if not count:
        return head + '<p class="muted">no stored run measured it</p></figure>'
    return head + svg(chart) + legend(chart) + "</figure>"


def legend(chart: Chart) -> str:
    """Each line's colour and label, and what a red ring means when the chart has one."""
    items = [f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
             f"{html.escape(series.label)}</li>" for i, series in enumerate(chart.series)]
    if chart.flagged:
        items.append('<li><span class="ring"></span>regression flagged by the gate (hover for the change)</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"
