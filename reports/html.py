"""The HTML writer: one self-contained file that opens offline in any browser.

Figures are PNG images embedded as base64 `data:` URIs, formulas are rendered to PNG by matplotlib's
mathtext (no MathJax, no fonts fetched), and styles are inline. The file contains no reference to
any outside resource; it does not even contain the letters "http": text from the run that would
contain them has its first letter written as an HTML character reference, and an encoded image whose
base64 text happens to contain them is re-encoded (see `png_data_uri`).
"""

from __future__ import annotations

import base64
import html
import io
import re

from matplotlib.figure import Figure as MplFigure

from reports.document import Document, Figure, Formula, Note, Paragraph, Section, Table

FIGURE_DPI = 110
FORMULA_DPI = 130
_HTTP = re.compile("http", re.IGNORECASE)

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1180px;
       color: #1b1b1b; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #444; padding-bottom: 0.2em; margin-top: 2.2em; }
h3 { font-size: 1.05em; margin-top: 1.6em; }
.subtitle { color: #555; margin-top: 0; }
.summary { background: #f4f6f8; border-left: 4px solid #335; padding: 0.6em 1.2em; }
nav ol { columns: 2; }
.note { background: #fff8e1; border-left: 4px solid #e0a526; padding: 0.4em 0.8em; margin: 0.8em 0; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; overflow-wrap: anywhere;
        font-size: 0.86em; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #c9c9c9; padding: 0.3em 0.45em; vertical-align: top; text-align: left; }
th { background: #e9ecef; }
tr.v-agree td.verdict { background: #d7f0df; color: #14532d; font-weight: bold; }
tr.v-disagree td { background: #fde4e2; }
tr.v-disagree td.verdict { background: #d1342f; color: white; font-weight: bold; }
tr.v-inconclusive td.verdict { background: #fbefc7; color: #6b4a00; font-weight: bold; }
tr.v-not-covered td.verdict, tr.v-not-measured td.verdict { background: #ececec; color: #555; }
tr.v-outside-validity td.verdict { background: #dde6f0; color: #24405f; font-weight: bold; }
figure { margin: 1.2em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #333; margin-top: 0.4em; }
figcaption b { color: #000; }
.formula { margin: 0.5em 0 0.8em 1em; }
.formula .label { font-size: 0.85em; color: #444; display: block; }
.formula code { font-size: 0.9em; }
details summary { cursor: pointer; font-weight: bold; margin: 0.6em 0; }
"""


def text(value: str) -> str:
    """Escape text for HTML and write any 'http' with a character reference for its 'h'."""
    return _HTTP.sub(lambda m: f"&#{ord(m.group(0)[0])};{m.group(0)[1:]}", html.escape(value))


def png_data_uri(fig: MplFigure, dpi: int = FIGURE_DPI, **savefig: object) -> str:
    """A figure as a `data:image/png;base64,...` URI that does not contain 'http' in any case.

    Random base64 text contains those four letters now and then; a different zlib level, or a
    padding comment that shifts the byte alignment, gives another encoding of the same image.
    """
    for attempt in range(27):
        buf = io.BytesIO()
        comment = "." * (attempt % 3)
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None, "Comment": comment or None},
                    pil_kwargs={"compress_level": 6 - attempt // 3}, **savefig)
        encoded = base64.b64encode(buf.getvalue()).decode("ascii")
        if not _HTTP.search(encoded):
            return "data:image/png;base64," + encoded
    raise RuntimeError("could not encode a figure without the letters 'http' in its base64 text")


def formula_data_uri(latex: str) -> str | None:
    """A LaTeX formula rendered by mathtext as a PNG data URI, or None when mathtext cannot parse it."""
    body = latex.strip()
    if not body:
        return None
    if not (body.startswith("$") and body.endswith("$")):
        body = f"${body}$"
    fig = MplFigure(figsize=(0.01, 0.01))
    fig.text(0, 0, body, fontsize=13)
    try:
        return png_data_uri(fig, FORMULA_DPI, bbox_inches="tight", pad_inches=0.04, transparent=True)
    except ValueError:  # mathtext does not know every LaTeX construct (e.g. cases environments)
        return None


def render_figure(block: Figure) -> str:
    """A <figure> with the embedded image, its title and caption; a note if drawing failed."""
    fig = MplFigure(figsize=block.size, layout="constrained")
    try:
        block.draw(fig)
        uri = png_data_uri(fig)
    except Exception as exc:  # one broken panel must not take the rest of the report down
        return f'<p class="note">Figure "{text(block.title)}" could not be drawn: {text(repr(exc))}</p>'
    return (f'<figure><img src="{uri}" alt="{text(block.title)}">'
            f"<figcaption><b>{text(block.title)}.</b> {text(block.caption)}</figcaption></figure>")


def render_table(table: Table) -> str:
    """An HTML table, rows classed by verdict; long tables inside <details>."""
    head = "".join(f"<th>{text(c)}</th>" for c in table.columns)
    body = []
    vcol = table.columns.index(table.verdict_column) if table.verdict_column else -1
    for row in table.rows:
        verdict = table.verdict_of(row)
        cls = f' class="v-{verdict.replace(" ", "-")}"' if verdict else ""
        cells = "".join(f'<td{" class=verdict" if i == vcol else ""}>{text(v)}</td>' for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    cols = ""
    if table.widths:
        total = sum(table.widths)
        cols = "".join(f'<col style="width:{100 * w / total:.1f}%">' for w in table.widths)
        cols = f"<colgroup>{cols}</colgroup>"
    html_table = f"<table>{cols}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    title = f"<h3>{text(table.title)}</h3>" if table.title else ""
    if table.collapsed:
        counts = _verdict_counts(table)
        return (f"{title}<details><summary>Show all {len(table.rows)} rows ({text(counts)})</summary>"
                f"{html_table}</details>")
    return title + html_table


def _verdict_counts(table: Table) -> str:
    verdicts = [table.verdict_of(r) for r in table.rows]
    return ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts) if v)


def render_formula(block: Formula) -> str:
    """A formula image (mathtext) with its label; the plain text when mathtext cannot render it."""
    uri = formula_data_uri(block.latex)
    label = f'<span class="label">{text(block.label)}</span>' if block.label else ""
    if uri is None:
        return f'<div class="formula">{label}<code>{text(block.latex)}</code></div>'
    return f'<div class="formula">{label}<img src="{uri}" alt="{text(block.latex)}"></div>'


def render_section(section: Section) -> str:
    """One <section> with its blocks."""
    parts = [f'<section id="{section.anchor}"><h2>{text(section.title)}</h2>']
    for block in section.blocks:
        if isinstance(block, Paragraph):
            parts.append(f"<p>{text(block.text)}</p>")
        elif isinstance(block, Note):
            parts.append(f'<p class="note">{text(block.text)}</p>')
        elif isinstance(block, Table):
            parts.append(render_table(block))
        elif isinstance(block, Formula):
            parts.append(render_formula(block))
        elif isinstance(block, Figure):
            parts.append(render_figure(block))
    parts.append("</section>")
    return "\n".join(parts)


def render(doc: Document) -> str:
    """The complete HTML page."""
    toc = "".join(f'<li><a href="#{s.anchor}">{text(s.title.split(". ", 1)[-1])}</a></li>' for s in doc.sections)
    summary = "".join(f"<li>{text(line)}</li>" for line in doc.summary)
    body = "\n".join(render_section(s) for s in doc.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{text(doc.title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{text(doc.title)}</h1><p class=subtitle>{text(doc.subtitle)}</p>"
        f'<div class="summary"><ul>{summary}</ul></div><nav><ol>{toc}</ol></nav>\n{body}\n</body></html>\n'
    )
