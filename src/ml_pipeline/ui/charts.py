"""Charts as SVG drawn on the server from figures stored in the pipeline database: the views need no
file of a run (which may be on another worker's disk) and no script from outside the machine."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

# Matplotlib's viridis at nine stops, so the heatmaps read like the PNG plots of a run.
VIRIDIS = [
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
]  # fmt: skip
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def data_uri(svg: str) -> str:
    """An <img> source holding the picture itself: one request draws the whole page."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def colour(share: float) -> str:
    """Viridis at ``share`` (0 darkest, 1 brightest)."""
    position = min(max(share, 0.0), 1.0) * (len(VIRIDIS) - 1)
    low = int(position)
    high = min(low + 1, len(VIRIDIS) - 1)
    mix = position - low
    red, green, blue = (round(a + (b - a) * mix) for a, b in zip(VIRIDIS[low], VIRIDIS[high], strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT}><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="white"/>{"".join(body)}</svg>'
    )


def _tag(name: str, **attributes) -> str:
    """An empty SVG element; attribute names are spelt with underscores for dashes."""
    spelt = " ".join(f'{key.replace("_", "-")}="{value}"' for key, value in attributes.items())
    return f"<{name} {spelt}/>"


def _text(x: float, y: float, text: str, anchor: str = "middle", **extra: str) -> str:
    attributes = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in extra.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{attributes}>{escape(text)}</text>'


def heatmap(
    rows: Sequence, columns: Sequence, values: dict, marked: tuple | None, row_title: str, column_title: str
) -> str:
    """A cell per (row, column) coloured by its value in ``values`` (missing: grey), ``marked`` starred."""
    cell_w, cell_h = 44, max(8, min(22, 560 // max(len(rows), 1)))
    left, top = 70, 20
    width, height = left + cell_w * len(columns) + 90, top + cell_h * len(rows) + 60
    known = [value for value in values.values() if value is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    body = []
    for i, row in enumerate(rows):
        y = top + cell_h * (len(rows) - 1 - i)  # the smallest row at the bottom, as in the plots
        if len(rows) <= 30 or i % max(1, len(rows) // 15) == 0:
            body.append(_text(left - 6, y + cell_h * 0.7, str(row), "end"))
        for j, column in enumerate(columns):
            value = values.get((row, column))
            fill = "#ddd" if value is None else colour((value - low) / (high - low) if high > low else 1.0)
            tip = f"{row_title} {row}, {column_title} {column}: " + ("-" if value is None else f"{value:.4f}")
            body.append(
                f'<rect x="{left + cell_w * j}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{fill}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if (row, column) == marked:
                body.append(
                    _text(left + cell_w * (j + 0.5), y + cell_h * 0.8, "★", fill="red", font_size="16")
                )
    for j, column in enumerate(columns):
        body.append(_text(left + cell_w * (j + 0.5), top + cell_h * len(rows) + 16, f"{column:g}"))
    body.append(_text(left + cell_w * len(columns) / 2, height - 12, column_title))
    middle = top + cell_h * len(rows) / 2
    body.append(_text(14, middle, row_title, transform=f"rotate(-90 14 {middle:.1f})"))
    legend_x = left + cell_w * len(columns) + 14
    for k in range(10):
        body.append(
            f'<rect x="{legend_x}" y="{top + 12 * (9 - k)}" width="14" height="12" fill="{colour(k / 9)}"/>'
        )
    body.append(_text(legend_x + 18, top + 10, f"{high:.4f}", "start"))
    body.append(_text(legend_x + 18, top + 120, f"{low:.4f}", "start"))
    return _svg(width, height, body, f"Mean CV score over {row_title} x {column_title}")


def _frame(left: int, top: int, span_w: int, span_h: int, y_range: tuple[float, float]) -> list[str]:
    """A plot's box with five horizontal grid lines and their values."""
    body = [_tag("rect", x=left, y=top, width=span_w, height=span_h, fill="none", stroke="#999")]
    for k in range(6):
        y = top + (1 - k / 5) * span_h
        body.append(_tag("line", x1=left, x2=left + span_w, y1=f"{y:.1f}", y2=f"{y:.1f}", stroke="#eee"))
        body.append(_text(left - 6, y + 4, f"{y_range[0] + (y_range[1] - y_range[0]) * k / 5:.3g}", "end"))
    return body


def lines(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    x_title: str,
    y_title: str,
    y_range: tuple[float, float] = (0.0, 1.0),
    x_labels: dict[float, str] | None = None,
    diagonal: bool = False,
) -> str:
    """Each series as a line (with its points, when few) over shared axes; ``x_labels`` places named
    ticks (dates), else six evenly spaced values; ``diagonal`` adds the chance line of a ROC plot."""
    width, height, left, top = 620, 360, 56, 16
    span_w, span_h = width - left - 230, height - top - 44  # room on the right for the legend
    xs = [x for _, points, _ in series for x in points] or [0.0, 1.0]
    x_low, x_high = min(xs), max(max(xs), min(xs) + 1e-9)

    def at(x: float, y: float) -> tuple[float, float]:
        share = (y - y_range[0]) / (y_range[1] - y_range[0])
        return left + (x - x_low) / (x_high - x_low) * span_w, top + (1 - share) * span_h

    body = _frame(left, top, span_w, span_h, y_range)
    ticks = x_labels or {
        x_low + (x_high - x_low) * k / 5: f"{x_low + (x_high - x_low) * k / 5:.2g}" for k in range(6)
    }
    body += [_text(at(x, 0)[0], top + span_h + 16, label) for x, label in ticks.items()]
    if diagonal:
        (x1, y1), (x2, y2) = at(x_low, y_range[0]), at(x_high, y_range[1])
        body.append(_tag("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke="#444", stroke_dasharray="4 3"))
    for index, (name, points_x, points_y) in enumerate(series):
        stroke = PALETTE[index % len(PALETTE)]
        points = [at(x, y) for x, y in zip(points_x, points_y, strict=True)]
        spelt = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(_tag("polyline", points=spelt, stroke=stroke, stroke_width=2, fill="none"))
        if len(points) <= 60:
            body += [_tag("circle", cx=f"{x:.1f}", cy=f"{y:.1f}", r=3, fill=stroke) for x, y in points]
        body.append(
            _tag("rect", x=left + span_w + 12, y=top + 18 * index + 4, width=12, height=3, fill=stroke)
        )
        body.append(_text(left + span_w + 30, top + 18 * index + 10, name, "start"))
    body.append(_text(left + span_w / 2, height - 8, x_title))
    middle = top + span_h / 2
    body.append(_text(14, middle, y_title, transform=f"rotate(-90 14 {middle:.1f})"))
    return _svg(width, height, body, f"{y_title} against {x_title}")


def matrix(cells: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """A confusion matrix: true class by row, predicted class by column, each cell's count written."""
    size = max(28, min(70, 420 // max(len(labels), 1)))
    left, top = 90, 20
    width, height = left + size * len(labels) + 20, top + size * len(labels) + 60
    highest = max((count for row in cells for count in row), default=0) or 1
    body = []
    for i, row in enumerate(cells):
        body.append(_text(left - 6, top + size * (i + 0.55), str(labels[i]), "end"))
        for j, count in enumerate(row):
            share = count / highest
            x, y = left + size * j, top + size * i
            body.append(f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{colour(share)}"/>')
            ink = "black" if share > 0.5 else "white"
            body.append(_text(x + size / 2, y + size * 0.58, f"{count:,}", fill=ink))
    for j, label in enumerate(labels):
        body.append(_text(left + size * (j + 0.5), top + size * len(labels) + 16, str(label)))
    body.append(_text(left + size * len(labels) / 2, height - 12, "Predicted label"))
    middle = top + size * len(labels) / 2
    body.append(_text(14, middle, "True label", transform=f"rotate(-90 14 {middle:.1f})"))
    return _svg(width, height, body, "Confusion matrix on the test split")


def bars(names: Sequence[str], values: Sequence[float], threshold: float) -> str:
    """One horizontal bar per name, red past ``threshold`` (drawn as a dashed line)."""
    row, left, top = 18, 210, 10
    highest = max([*values, threshold * 1.25, 1e-9])
    span = 300
    width, height = left + span + 70, top + row * len(names) + 30
    body = []
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        y = top + row * i
        fill = "#d62728" if value > threshold else "#1f77b4"
        body.append(_text(left - 6, y + 12, name, "end"))
        body.append(
            _tag(
                "rect",
                x=left,
                y=y + 3,
                width=f"{max(1.0, value / highest * span):.1f}",
                height=row - 6,
                fill=fill,
            )
        )
        body.append(_text(left + value / highest * span + 4, y + 12, f"{value:.3f}", "start"))
    x = left + threshold / highest * span
    body.append(
        _tag(
            "line",
            x1=f"{x:.1f}",
            x2=f"{x:.1f}",
            y1=top,
            y2=top + row * len(names),
            stroke="#444",
            stroke_dasharray="4 3",
        )  # fmt: skip
    )
    body.append(_text(x, height - 8, f"threshold {threshold:g}"))
    return _svg(width, height, body, "Population stability index per feature")
