"""Report tables: named columns with a kind (count, percent, seconds), as text or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    #: text, int, pct (0-100), sec (seconds) or num.
    kind: str = "int"


@dataclass
class Table:
    """Rows are dicts by column key; None is "not applicable" (printed "-", CSV empty)."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def column(self, key: str) -> list[Any]:
        return [row.get(key) for row in self.rows]

    def text(self) -> str:
        """An aligned plain-text table with its title."""
        head = [c.title for c in self.columns]
        body = [[_show(row.get(c.key), c.kind) for c in self.columns] for row in self.rows]
        widths = [
            max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(head)
        ]
        lines = [self.title, ""]
        lines.append(
            "  ".join(
                _pad(h, w, c.kind) for h, w, c in zip(head, widths, self.columns, strict=True)
            )
        )
        lines.append("  ".join("-" * w for w in widths))
        for r in body:
            lines.append(
                "  ".join(
                    _pad(v, w, c.kind) for v, w, c in zip(r, widths, self.columns, strict=True)
                )
            )
        if not body:
            lines.append("(no data in this period)")
        if self.note:
            lines += ["", self.note]
        return "\n".join(line.rstrip() for line in lines)

    def csv(self) -> str:
        """CSV with a header of column keys; numbers unformatted (percent as 0-100)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.key for c in self.columns])
        for row in self.rows:
            writer.writerow([_raw(row.get(c.key)) for c in self.columns])
        return out.getvalue()


def _raw(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return value


def _show(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "sec":
        return _duration(value)
    if kind == "num":
        return f"{value:.2f}"
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _pad(text: str, width: int, kind: str) -> str:
    return text.ljust(width) if kind == "text" else text.rjust(width)


def ratio(part: float, whole: float, percent: bool = True) -> float | None:
    """part / whole (as a percentage by default); None when whole is 0."""
    if not whole:
        return None
    return 100.0 * part / whole if percent else part / whole


def columns(spec: Iterable[tuple[str, str, str]]) -> list[Column]:
    return [Column(key, title, kind) for key, title, kind in spec]
