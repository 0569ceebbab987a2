"""The PDF writer: the same document as the HTML page, paginated on A4 landscape with PdfPages.

Text, notes, formulas and tables flow onto text pages (tables are drawn cell by cell with wrapped
text, their header repeated on each page, rows coloured by verdict); each figure gets a page of its
own with its caption under it, scaled to fit and kept at its aspect ratio.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure as MplFigure
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser
from matplotlib.patches import Rectangle

from reports.document import Document, Figure, Formula, Note, Paragraph, Section, Table
from reports.plotting import VERDICT_COLOURS

PAGE = (11.69, 8.27)  # A4 landscape, inches
MARGIN = 0.55
BODY_PT = 9.5
TABLE_PT = 7.6
CHAR_EM = 0.56  # average advance of DejaVu Sans text, in em, used to wrap lines
LINE = 1.32  # line height, in multiples of the font size
MAX_HEADER_LINES = 6  # a section with at most this many lines of text shares its first figure's page
ROW_TINT = {"disagree": "#fde4e2", "agree": "#ffffff", "inconclusive": "#ffffff"}


def mathtext_extent(latex: str, size_pt: float) -> tuple[float, float] | None:
    """(width, height) in inches of a mathtext string at `size_pt`, or None when it cannot be parsed."""
    try:
        parsed = MathTextParser("path").parse(latex, dpi=72, prop=FontProperties(size=size_pt))
    except ValueError:
        return None
    return parsed.width / 72.0, (parsed.height + parsed.depth) / 72.0


def _chars(width_in: float, size_pt: float) -> int:
    """How many characters of text at `size_pt` fit in `width_in` inches."""
    return max(8, int(width_in * 72.0 / (CHAR_EM * size_pt)))


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        lines.extend(textwrap.wrap(para, width, break_long_words=True, break_on_hyphens=False) or [""])
    return lines


class TextPages:
    """Flows text blocks onto pages, starting a new page when the next block does not fit."""

    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.fig: MplFigure | None = None
        self.y = 0.0
        self.pages = 0

    @property
    def width(self) -> float:
        """Usable text width in inches."""
        return PAGE[0] - 2 * MARGIN

    def new_page(self) -> None:
        """Finish the current page and open a blank one."""
        self.flush()
        self.fig = MplFigure(figsize=PAGE)
        self.y = MARGIN

    def flush(self) -> None:
        """Write the current page, if any, with its footer."""
        if self.fig is not None:
            self.pages += 1
            self.fig.text(0.5, 0.25 / PAGE[1], f"{self.footer} · page {self.pages}", ha="center", fontsize=7,
                          color="#666666")
            self.pdf.savefig(self.fig)
            self.fig = None

    def ensure(self, height: float) -> None:
        """Open a new page unless `height` inches still fit on the current one."""
        if self.fig is None or self.y + height > PAGE[1] - MARGIN:
            self.new_page()

    def put(self, x: float, y: float, text: str, size: float, **kw: object) -> None:
        """Text with its top-left corner at (x, y) inches from the page's top-left corner."""
        assert self.fig is not None
        self.fig.text(x / PAGE[0], 1 - y / PAGE[1], text, fontsize=size, va="top", ha="left", **kw)

    def rect(self, x: float, y: float, w: float, h: float, colour: str, edge: str = "none") -> None:
        """A filled rectangle, top-left corner at (x, y) inches."""
        assert self.fig is not None
        self.fig.add_artist(Rectangle((x / PAGE[0], 1 - (y + h) / PAGE[1]), w / PAGE[0], h / PAGE[1],
                                      transform=self.fig.transFigure, facecolor=colour, edgecolor=edge,
                                      linewidth=0.4))

    def paragraph(self, text: str, size: float = BODY_PT, indent: float = 0.0, gap: float = 0.1,
                  **kw: object) -> None:
        """Wrapped text, split across pages line by line if needed."""
        lh = size * LINE / 72
        for line in _wrap(text, _chars(self.width - indent, size)):
            self.ensure(lh)
            self.put(MARGIN + indent, self.y, line, size, **kw)
            self.y += lh
        self.y += gap

    def heading(self, text: str, size: float = 15.0) -> None:
        """A section heading, kept with at least a few lines of what follows."""
        self.ensure(size * LINE / 72 + 1.0)
        self.put(MARGIN, self.y, text, size, weight="bold")
        self.y += size * LINE / 72 + 0.12

    def note(self, text: str) -> None:
        """A remark in a tinted box."""
        lines = _wrap(text, _chars(self.width - 0.3, BODY_PT))
        lh = BODY_PT * LINE / 72
        for start in range(0, len(lines), 20):
            chunk = lines[start:start + 20]
            h = len(chunk) * lh + 0.12
            self.ensure(h)
            self.rect(MARGIN, self.y, self.width, h, "#fff8e1")
            self.rect(MARGIN, self.y, 0.05, h, "#e0a526")
            self.put(MARGIN + 0.15, self.y + 0.06, "\n".join(chunk), BODY_PT, linespacing=LINE)
            self.y += h
        self.y += 0.12

    def formula(self, block: Formula) -> None:
        """A formula rendered by mathtext, under its label; plain text when mathtext cannot parse it."""
        label_lines = _wrap(block.label, _chars(self.width, 8.0)) if block.label else []
        latex = "$" + block.latex.strip().strip("$") + "$"
        extent = mathtext_extent(latex, 12.0)
        if extent is None:
            for line in label_lines:
                self.paragraph(line, size=8.0, color="#444444", gap=0.0)
            self.paragraph(block.latex, size=8.5, indent=0.3, family="monospace")
            return
        size = 12.0 * min(1.0, (self.width - 0.3) / max(extent[0], 1e-6))
        height = extent[1] * size / 12.0 + 0.18
        self.ensure(height + 0.15 * len(label_lines))
        for line in label_lines:
            self.put(MARGIN, self.y, line, 8.0, color="#444444")
            self.y += 8.0 * LINE / 72
        self.put(MARGIN + 0.3, self.y + 0.04, latex, size)
        self.y += height

    def table(self, table: Table) -> None:
        """A table with wrapped cells, paginated with its header repeated; rows tinted by verdict."""
        size = TABLE_PT if len(table.columns) > 5 else 8.4
        lh = size * LINE / 72
        pad = 0.04
        fractions = table.widths or [1.0 / len(table.columns)] * len(table.columns)
        total = sum(fractions)
        widths = [self.width * f / total for f in fractions]
        vcol = table.columns.index(table.verdict_column) if table.verdict_column else -1

        def wrapped(row: list[str]) -> list[list[str]]:
            return [_wrap(str(v), _chars(w - 2 * pad, size)) for v, w in zip(row, widths, strict=True)]

        header = wrapped(table.columns)
        header_h = max(len(c) for c in header) * lh + 2 * pad
        if table.title:
            self.ensure(0.3 + header_h + 3 * lh)
            self.paragraph(table.title, size=10.0, weight="bold", gap=0.05)

        def draw_header() -> None:
            x = MARGIN
            for lines, w in zip(header, widths, strict=True):
                self.rect(x, self.y, w, header_h, "#e9ecef", edge="#9a9a9a")
                self.put(x + pad, self.y + pad, "\n".join(lines), size, weight="bold", linespacing=LINE)
                x += w
            self.y += header_h

        self.ensure(header_h + lh * 3)
        draw_header()
        for row in table.rows:
            cells = wrapped(row)
            h = max(len(c) for c in cells) * lh + 2 * pad
            if self.y + h > PAGE[1] - MARGIN:
                self.new_page()
                draw_header()
            verdict = table.verdict_of(row)
            x = MARGIN
            for i, (lines, w) in enumerate(zip(cells, widths, strict=True)):
                colour = ROW_TINT.get(verdict, "#ffffff")
                weight = "normal"
                text_colour = "black"
                if i == vcol and verdict:
                    colour = VERDICT_COLOURS.get(verdict, "#ffffff")
                    weight, text_colour = "bold", "white" if verdict in ("agree", "disagree") else "black"
                self.rect(x, self.y, w, h, colour, edge="#b0b0b0")
                self.put(x + pad, self.y + pad, "\n".join(lines), size, weight=weight, color=text_colour,
                         linespacing=LINE)
                x += w
            self.y += h
        self.y += 0.2


HeaderLine = tuple[str, float, str, str]  # text, size in points, weight, colour


def _header_lines(section: Section, width: float) -> list[HeaderLine]:
    """A short section's heading and text as lines for the top of its first figure page."""
    lines: list[HeaderLine] = [(section.title, 15.0, "bold", "black")]
    for block in section.blocks:
        if isinstance(block, Paragraph | Note):
            colour = "#7a5300" if isinstance(block, Note) else "black"
            lines.extend((t, BODY_PT, "normal", colour) for t in _wrap(block.text, _chars(width, BODY_PT)))
    return lines


def _figure_page(pdf: PdfPages, block: Figure, number: int, footer: str, page_no: int,
                 header: list[HeaderLine] | None = None) -> None:
    """One page: optional section header, the figure scaled to fit at its aspect ratio, its caption."""
    width = PAGE[0] - 2 * MARGIN
    caption = f"Figure {number}. {block.title}. {block.caption}"
    lines = _wrap(caption, _chars(width, 9.0))
    caption_h = len(lines) * 9.0 * LINE / 72 + 0.2
    header = header or []
    header_h = sum(size * LINE / 72 for _, size, _, _ in header) + (0.15 if header else 0.0)
    avail_h = PAGE[1] - 2 * MARGIN - caption_h - header_h
    scale = min(width / block.size[0], avail_h / block.size[1], 1.15)
    w, h = block.size[0] * scale, block.size[1] * scale
    page = MplFigure(figsize=PAGE, layout="constrained")
    page.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.0, hspace=0.0)
    y = MARGIN
    for text, size, weight, colour in header:
        page.text(MARGIN / PAGE[0], 1 - y / PAGE[1], text, fontsize=size, weight=weight, color=colour,
                  va="top", ha="left")
        y += size * LINE / 72
    left = (PAGE[0] - w) / 2
    top = MARGIN + header_h
    sub = page.add_subfigure(_spec(page, left, top, w, h))
    try:
        block.draw(sub)
    except Exception as exc:  # one broken panel must not take the rest of the report down
        page.text(0.5, 0.5, f"Figure could not be drawn: {exc!r}", ha="center", fontsize=10, color="#d1342f")
    page.text(MARGIN / PAGE[0], 1 - (top + h + 0.12) / PAGE[1], "\n".join(lines), fontsize=9, va="top",
              ha="left", linespacing=LINE)
    page.text(0.5, 0.25 / PAGE[1], f"{footer} · page {page_no}", ha="center", fontsize=7, color="#666666")
    pdf.savefig(page)


def _spec(page: MplFigure, left: float, top: float, w: float, h: float):
    """A gridspec cell covering the rectangle (left, top, w, h) in inches from the top-left corner."""
    gs = page.add_gridspec(3, 3, left=0, right=1, top=1, bottom=0, wspace=0, hspace=0,
                           width_ratios=[left, w, max(PAGE[0] - left - w, 1e-3)],
                           height_ratios=[top, h, max(PAGE[1] - top - h, 1e-3)])
    return gs[1, 1]


def write(doc: Document, path: Path) -> Path:
    """Write the document as a PDF to `path`."""
    footer = f"{doc.title} — {doc.subtitle}"
    with PdfPages(path, metadata={"Title": doc.title, "Creator": "resnet-regimes reports",
                                  "CreationDate": datetime.now(timezone.utc)}) as pdf:
        pages = TextPages(pdf, footer)
        pages.new_page()
        pages.put(MARGIN, pages.y, doc.title, 20, weight="bold")
        pages.y += 0.45
        pages.paragraph(doc.subtitle, size=11, color="#555555", gap=0.2)
        for line in doc.summary:
            pages.paragraph("• " + line, size=10.5, gap=0.06)
        pages.y += 0.2
        pages.paragraph("Contents", size=12, weight="bold")
        for s in doc.sections:
            pages.paragraph(s.title, size=10.5, indent=0.2, gap=0.02)
        figure_no = 0
        for section in doc.sections:
            figure_no = _section(pages, pdf, section, figure_no, footer)
        pages.flush()
    return path


def _section(pages: TextPages, pdf: PdfPages, section: Section, figure_no: int, footer: str) -> int:
    """Lay out one section: its text on text pages, then one page per figure. A section whose text is
    only a few lines is printed at the top of its first figure page instead of on a page of its own."""
    figures = [b for b in section.blocks if isinstance(b, Figure)]
    header = _header_lines(section, pages.width)
    short = (figures and all(isinstance(b, Paragraph | Note | Figure) for b in section.blocks)
             and len(header) <= MAX_HEADER_LINES)
    if not short:
        pages.new_page()
        pages.heading(section.title)
        for block in section.blocks:
            if isinstance(block, Paragraph):
                pages.paragraph(block.text)
            elif isinstance(block, Note):
                pages.note(block.text)
            elif isinstance(block, Formula):
                pages.formula(block)
            elif isinstance(block, Table):
                _table(pages, block)
        pages.flush()
    for i, block in enumerate(figures):
        figure_no += 1
        pages.pages += 1
        _figure_page(pdf, block, figure_no, footer, pages.pages, header if short and i == 0 else None)
    return figure_no


def _table(pages: TextPages, table: Table) -> None:
    """Long tables (collapsed in HTML) keep only their rows that do not agree, with a note."""
    if not table.collapsed or not table.verdict_column:
        pages.table(table)
        return
    keep = [r for r in table.rows if table.verdict_of(r) != "agree"]
    if keep:
        pages.table(Table(columns=table.columns, rows=keep, title=table.title, verdict_column=table.verdict_column,
                          widths=table.widths))
    else:
        pages.paragraph(table.title, size=10.0, weight="bold", gap=0.05)
    pages.note(f"{len(table.rows) - len(keep)} agreeing rows of this table are omitted here to keep the PDF short; "
               f"the HTML report and the CSV files list all {len(table.rows)}.")
