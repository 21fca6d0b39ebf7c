"""Bar charts drawn on the server: the geometry of an SVG chart, which ``templates/chart.html``
turns into markup. No script and no inline style (the console's Content-Security-Policy allows
neither): every position is an attribute, every colour a class in console.css.

Two shapes: ``columns`` (one upright bar per day or week, a few dates under them) and ``rows``
(one labelled bar per line, the value written after it), both in a viewBox ``WIDTH`` wide that the
stylesheet scales to the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

WIDTH = 360
ROW_HEIGHT = 34  # a label line, then the bar
BAR_HEIGHT = 12
COLUMNS_HEIGHT = 150
AXIS = 20  # under the columns, for their dates
WIDEST_COLUMN = 48
LABEL_HALF = 32  # half a date or week label's width at the chart's font size


@dataclass(frozen=True)
class Bar:
    """One bar: where it is drawn, its label and the value written beside it."""

    label: str
    text: str
    x: float
    y: float
    width: float
    height: float
    label_x: float = 0.0
    label_y: float = 0.0
    text_x: float = 0.0
    text_y: float = 0.0
    show_label: bool = True
    anchor: str = "start"  # which end of the label is at label_x (SVG's text-anchor)


@dataclass
class Chart:
    """An SVG chart's viewBox, title, description and bars (``key`` names its ids in the page)."""

    key: str
    title: str
    description: str
    height: float
    bars: List[Bar] = field(default_factory=list)
    width: int = WIDTH
    top_text: Optional[str] = None  # the columns' scale: the largest value


def rows(key: str, title: str, description: str, values: Sequence[Tuple[str, float, str]], most: float = 0) -> Chart:
    """A bar per ``(label, value, text)``, longest for ``most`` (default: the largest value)."""
    scale = max([most] + [value for _, value, _ in values]) or 1
    room = WIDTH - 100  # the written value, "100% (12 of 12)", goes after the bar
    bars = []
    for index, (label, value, text) in enumerate(values):
        top = index * ROW_HEIGHT
        width = max(0.0, value) / scale * room
        bars.append(
            Bar(
                label,
                text,
                x=0,
                y=top + 18,
                width=round(width, 1),
                height=BAR_HEIGHT,
                label_x=0,
                label_y=top + 13,
                text_x=round(width + 6, 1),
                text_y=top + 28,
            )
        )
    return Chart(key, title, description, height=max(ROW_HEIGHT, len(values) * ROW_HEIGHT), bars=bars)


def columns(key: str, title: str, description: str, values: Sequence[Tuple[str, float, str]], labels: int = 4) -> Chart:
    """An upright bar per ``(label, value, text)``, left to right; about ``labels`` labels written
    under them (the first and the last always)."""
    scale = max([value for _, value, _ in values] + [0]) or 1
    count = max(1, len(values))
    slot = WIDTH / count
    every = max(1, round(count / max(1, labels - 1))) if count > labels else 1
    bars = []
    for index, (label, value, text) in enumerate(values):
        height = max(0.0, value) / scale * (COLUMNS_HEIGHT - 16)
        width = min(slot * 0.7, WIDEST_COLUMN)
        middle = index * slot + slot / 2
        # A label at either edge is written inward, not cut off by the chart's edge.
        anchor = "start" if middle < LABEL_HALF else "end" if middle > WIDTH - LABEL_HALF else "middle"
        bars.append(
            Bar(
                label,
                text,
                x=round(middle - width / 2, 1),
                y=round(COLUMNS_HEIGHT - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label_x=round({"start": 0, "end": WIDTH}.get(anchor, middle), 1),
                label_y=COLUMNS_HEIGHT + 15,
                show_label=index % every == 0 or index == count - 1,
                anchor=anchor,
            )
        )
    # Two labels too close together overlap: the one before the last gives way.
    shown = [bar for bar in bars if bar.show_label]
    if len(shown) > 1 and shown[-1].label_x - shown[-2].label_x < 70:
        index = bars.index(shown[-2])
        bars[index] = Bar(**{**vars(bars[index]), "show_label": False})
    top = max([value for _, value, _ in values] + [0])
    return Chart(
        key, title, description, height=COLUMNS_HEIGHT + AXIS, bars=bars, top_text=f"{top:g}" if values else None
    )
