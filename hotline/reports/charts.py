"""Report charts as SVG, drawn on the server: interval bars, the service-level trend
and the agent state timeline. Plain SVG 1.1 with inline attributes only (no script,
no style element), so it is safe to serve under a strict CSP and to download."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from hotline.reports.agents import Segment

WIDTH, HEIGHT = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 70
COLOURS = {
    "answered": "#1a7f37",
    "abandoned": "#c62828",
    "offered": "#1f6feb",
    "overflow": "#b26b00",
    "sl_offered": "#1f6feb",
    "sl_answered": "#6e40c9",
    "aht": "#1f6feb",
    "asa": "#b26b00",
    # staffing and quality (hotline/reports/staffing.py, quality.py)
    "forecast": "#6e40c9",
    "agents": "#c62828",
    "scheduled": "#b26b00",
    "logged_in": "#1a7f37",
    "avg_score": "#1f6feb",
    "pass_rate": "#1a7f37",
    "handling": "#1f6feb",
    "wrap_up": "#6e40c9",
    "paused": "#b26b00",
    "idle": "#8fd19e",
}


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
            f"<title>{escape(title)}</title>",
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
            *body,
            "</svg>",
        ]
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10.0 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return step * 10


def _axes(y_max: float, unit: str, labels: Sequence[str]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#5b6475"/>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="#5b6475"/>',
    ]
    for i in range(5):
        v = y_max * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e6e8ec"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}{escape(unit)}</text>'
        )
    n = max(1, len(labels))
    step = max(1, n // 24)  # at most about 24 labels
    slot = (WIDTH - LEFT - RIGHT) / n
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = LEFT + slot * (i + 0.5)
        y = HEIGHT - BOTTOM + 12
        out.append(
            f'<text x="{x:.1f}" y="{y}" text-anchor="end" '
            f'transform="rotate(-45 {x:.1f} {y})">{escape(label)}</text>'
        )
    return out


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    x = WIDTH - RIGHT - 150 * len(names)
    for i, name in enumerate(names):
        colour = COLOURS.get(name, "#5b6475")
        out.append(f'<rect x="{x + 150 * i}" y="10" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 150 * i + 16}" y="21">{escape(name.replace("_", " "))}</text>')
    return out


def bar_chart(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], unit: str = ""
) -> str:
    """Grouped bars: one group per interval, one bar per series."""
    values = [v or 0 for vs in series.values() for v in vs]
    y_max = _nice_max(max(values, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = slot * 0.8 / max(1, len(series))
    body = _axes(y_max, unit, labels)
    for j, (name, vs) in enumerate(series.items()):
        colour = COLOURS.get(name, "#5b6475")
        for i, v in enumerate(vs):
            if not v:
                continue
            h = plot_h * v / y_max
            x = LEFT + slot * i + slot * 0.1 + bar * j
            body.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])} {escape(name)}: '
                f"{v:g}</title></rect>"
            )
    return _svg(WIDTH, HEIGHT, title, body + _legend(list(series)))


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    unit: str = "",
    y_max: float | None = None,
    target: float | None = None,
) -> str:
    """Lines over the intervals (gaps where a value is None); an optional target line."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = y_max if y_max is not None else _nice_max(max(values, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    body = _axes(top, unit, labels)
    if target is not None:
        y = HEIGHT - BOTTOM - plot_h * target / top
        body.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="#1a7f37" stroke-dasharray="6 4"><title>target {target:g}{escape(unit)}'
            "</title></line>"
        )
    for name, vs in series.items():
        colour = COLOURS.get(name, "#5b6475")
        run: list[str] = []
        for i, v in enumerate([*vs, None]):
            if v is not None:
                x, y = LEFT + slot * (i + 0.5), HEIGHT - BOTTOM - plot_h * v / top
                run.append(f"{x:.1f},{y:.1f}")
                body.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                    f"{escape(labels[i])} {escape(name)}: {v:.1f}{escape(unit)}</title></circle>"
                )
            elif run:
                body.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                    'stroke-width="2"/>'
                )
                run = []
    return _svg(WIDTH, HEIGHT, title, body + _legend(list(series)))


def timeline_chart(
    title: str, segments: Sequence[Segment], t0: float, t1: float, zone: ZoneInfo
) -> str:
    """One row per agent channel, coloured by state, over [t0, t1)."""
    rows = sorted({(s.agent, s.channel) for s in segments})
    row_h = 22
    height = TOP + BOTTOM // 2 + row_h * max(1, len(rows))
    span = max(1e-9, t1 - t0)
    left = LEFT + 60
    width = WIDTH - left - RIGHT
    body: list[str] = []
    index = {key: i for i, key in enumerate(rows)}
    for i, (agent, channel) in enumerate(rows):
        y = TOP + row_h * i
        body.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">'
            f"{escape(agent)} {escape(channel)}</text>"
        )
    for s in segments:
        y = TOP + row_h * index[(s.agent, s.channel)]
        x = left + width * (s.start - t0) / span
        w = width * (s.end - s.start) / span
        if w < 0.25:  # narrower than a pixel can show: left out (a week has very many)
            continue
        what = s.state + (f" ({s.reason})" if s.reason else "")
        start = datetime.fromtimestamp(s.start, zone).strftime("%H:%M:%S")
        end = datetime.fromtimestamp(s.end, zone).strftime("%H:%M:%S")
        body.append(
            f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{COLOURS.get(s.state, "#5b6475")}"><title>{escape(s.agent)} '
            f"{escape(what)} {start}-{end}</title></rect>"
        )
    bottom = TOP + row_h * max(1, len(rows))
    for i in range(7):
        t = t0 + span * i / 6
        x = left + width * i / 6
        label = datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M")
        anchor = "start" if i == 0 else "end" if i == 6 else "middle"
        body.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="{anchor}">{label}</text>')
    if not rows:
        body.append(f'<text x="{left}" y="{TOP + 15}">no agent was logged in</text>')
    legend = ["handling", "wrap_up", "paused", "idle"]
    return _svg(WIDTH, height + 10, title, body + _legend(legend))
