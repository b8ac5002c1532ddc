"""Pictures for the local page: SVG line charts from Prometheus ranges, and trace waterfalls.

Pure functions from numbers to SVG text (no JavaScript, no chart library): the
page stays one server-rendered HTML document a headless browser can screenshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

ERROR_RED = "#dc2626"
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[tuple[float, float], ...]  # (unix seconds, value)

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


def _ago(seconds: float) -> str:
    return f"-{seconds / 60:.0f} min" if seconds >= 90 else f"-{seconds:.0f} s"


def fmt(v: float | None, unit: str = "") -> str:
    """A short number for a legend: 0.0123 s -> 12.3ms, 1534 -> 1.5k."""
    if v is None or math.isnan(v):
        return "-"
    if unit == "s":
        if v < 1:
            return f"{v * 1000:.3g}ms"
        return f"{v:.3g}s"
    if unit == "percentunit":
        return f"{v * 100:.0f}%"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def interesting(series: list[Series], keep: int = 6) -> list[Series]:
    """Many series (a zero for every type and reason): keep those that are ever non-zero."""
    if len(series) <= keep:
        return series
    nonzero = [s for s in series if any(v for _, v in s.points if not math.isnan(v))]
    return nonzero[: len(PALETTE)]


def line_chart(series: list[Series], *, width: int = 600, height: int = 120, unit: str = "") -> str:
    """An SVG line chart with a light grid, the max on the axis and nothing else."""
    pts = [p for s in series for p in s.points if not math.isnan(p[1])]
    if not pts:
        return (
            f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="no data">'
            f'<rect width="100%" height="100%" fill="#f8fafc"/>'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#94a3b8" '
            f'font-size="12">no data yet</text></svg>'
        )
    t0 = min(p[0] for p in pts)
    t1 = max(p[0] for p in pts)
    vmax = max(max(p[1] for p in pts), 0.0)
    vmin = min(min(p[1] for p in pts), 0.0)
    span_t = (t1 - t0) or 1.0
    span_v = (vmax - vmin) or 1.0
    pad_l, pad_r, pad_t, pad_b = 44, 6, 6, 14
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def xy(t: float, v: float) -> str:
        x = pad_l + (t - t0) / span_t * w
        y = pad_t + h - (v - vmin) / span_v * h
        return f"{x:.1f},{y:.1f}"

    out = [
        f'<svg class="chart" width="{width}" height="{height}" role="img">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#f8fafc" stroke="#e2e8f0"/>',
        f'<text x="{pad_l - 4}" y="{pad_t + 9}" text-anchor="end" font-size="10" fill="#64748b">{escape(fmt(vmax, unit))}</text>',
        f'<text x="{pad_l - 4}" y="{pad_t + h}" text-anchor="end" font-size="10" fill="#64748b">{escape(fmt(vmin, unit))}</text>',
        f'<text x="{pad_l}" y="{height - 2}" font-size="9" fill="#94a3b8">{_ago(t1 - t0)}</text>',
        f'<text x="{width - pad_r}" y="{height - 2}" text-anchor="end" font-size="9" fill="#94a3b8">now</text>',
    ]
    for i, s in enumerate(series[: len(PALETTE)]):
        good = [p for p in s.points if not math.isnan(p[1])]
        if not good:
            continue
        color = PALETTE[i % len(PALETTE)]
        if len(good) == 1:
            x, y = xy(*good[0]).split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{color}"/>')
        else:
            d = " ".join(xy(t, v) for t, v in good)
            out.append(
                f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.6" '
                'vector-effect="non-scaling-stroke"/>'
            )
    out.append("</svg>")
    return "".join(out)


def legend(series: list[Series], unit: str = "") -> list[tuple[str, str, str]]:
    """``(color, label, last value)`` per series, for the HTML legend."""
    return [
        (PALETTE[i % len(PALETTE)], s.label, fmt(s.last, unit))
        for i, s in enumerate(series[: len(PALETTE)])
    ]


@dataclass(frozen=True)
class Span:
    name: str
    service: str
    start: float
    end: float
    status: str
    span_id: str
    parent_id: str | None


def waterfall(spans: list[Span], *, width: int = 900) -> str:
    """A trace as bars on a time axis, one row per span, coloured by service."""
    if not spans:
        return '<p class="muted">no spans in this trace (yet)</p>'
    spans = sorted(spans, key=lambda s: (s.start, s.end))
    t0 = min(s.start for s in spans)
    t1 = max(max(s.end, s.start) for s in spans)
    total = (t1 - t0) or 1e-3
    services = sorted({s.service for s in spans})
    calm = [c for c in PALETTE if c != ERROR_RED]  # red means a failed span
    color = {svc: calm[i % len(calm)] for i, svc in enumerate(services)}
    row, label_w = 22, 330
    bar_w = width - label_w - 70
    out = [f'<svg class="waterfall" width="{width}" height="{row * len(spans) + 8}">']
    for i, s in enumerate(spans):
        y = 4 + i * row
        x = label_w + (s.start - t0) / total * bar_w
        bw = max(2.0, (max(s.end, s.start) - s.start) / total * bar_w)
        fill = ERROR_RED if s.status == "ERROR" else color[s.service]
        ms = (max(s.end, s.start) - s.start) * 1000
        out.append(
            f'<text x="0" y="{y + 14}" font-size="11" fill="#0f172a">{escape(s.name[:40])}'
            f'<tspan fill="#64748b"> {escape(s.service[:24])}</tspan></text>'
            f'<rect x="{x:.1f}" y="{y + 3}" width="{bw:.1f}" height="14" rx="2" fill="{fill}"/>'
            f'<text x="{min(x + bw + 4, width - 60):.1f}" y="{y + 14}" font-size="10" fill="#475569">{ms:.1f} ms</text>'
        )
    out.append("</svg>")
    return "".join(out)
