"""The report as data: sections made of paragraphs, notes, tables, formulas and figures.

Both writers (`reports.html`, `reports.pdf`) render the same `Document`, so the HTML page and the
PDF cannot drift apart. A figure is a drawing function, not an image: each writer lays it out at
its own size (the PDF adds the caption on the page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from matplotlib.figure import FigureBase

VERDICTS = ("agree", "disagree", "inconclusive", "outside validity", "not covered", "not measured")


@dataclass
class Paragraph:
    """Plain text (Unicode, no markup)."""

    text: str


@dataclass
class Note:
    """A visible remark: a skipped panel, a missing input, a caveat."""

    text: str


@dataclass
class Formula:
    """A formula: LaTeX for mathtext rendering, and a plain-text fallback."""

    latex: str
    plain: str
    label: str = ""


@dataclass
class Table:
    """A table of text cells; `verdict_column` names the column whose value colours each row."""

    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    verdict_column: str | None = None
    widths: list[float] | None = None
    collapsed: bool = False

    def verdict_of(self, row: list[str]) -> str:
        """The row's verdict ('' when the table has none)."""
        if self.verdict_column is None:
            return ""
        return row[self.columns.index(self.verdict_column)]


@dataclass
class Figure:
    """A figure: `draw(fig)` fills a matplotlib Figure or SubFigure of about `size` inches."""

    title: str
    caption: str
    draw: Callable[[FigureBase], None]
    size: tuple[float, float] = (10.0, 5.5)


Block = Paragraph | Note | Formula | Table | Figure


@dataclass
class Section:
    """A numbered section of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""


@dataclass
class Document:
    """The whole report."""

    title: str
    subtitle: str
    summary: list[str]
    sections: list[Section]
