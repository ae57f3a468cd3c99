"""The Markdown tables (``<name>.md`` written by :mod:`fairbench.reports.render`) as standalone HTML
pages, so that the Snakemake report shows them as tables rather than as files to download.

Only the Markdown that the table writers produce is understood: ``#`` headings, pipe tables (header,
``|---|`` rule, rows), ``**bold**``, `` `code` ``, ``[links](page.md)`` to neighbouring files, ``- `` list items and paragraphs (a line ending in
two spaces breaks the line). Everything else is shown as text, HTML-escaped.

``python -m fairbench.reports.tables_html --tables results/tables --out results/report/tables``
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from fairbench.io import write_text_atomic

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
#: ``[text](page.md)``: a link to a file next to the page (no scheme, no absolute path); .md becomes .html.
_LINK = re.compile(r"\[([^\]]+)\]\(((?![a-z]+:|/)[\w./-]+?)(\.md)?\)")
_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; white-space: normal; } td:first-child, td:nth-child(2), th:first-child, th:nth-child(2) { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
td.text { white-space: normal; min-width: 10em; max-width: 28em; text-align: left; }
td.ci { white-space: normal; } td.ci span { white-space: nowrap; }
p, li { max-width: 60em; color: #444; }
"""


def _inline(text: str) -> str:
    """Escape ``text`` and turn ``**bold**`` and `` `code` `` into HTML."""
    out = html.escape(text, quote=False)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _LINK.sub(lambda m: f'<a href="{m.group(2)}{".html" if m.group(3) else ""}">{m.group(1)}</a>', out)
    return _CODE.sub(r"<code>\1</code>", out)


#: Prose cells (notes, comparisons) longer than this wrap, so that wide tables fit a 1400 px page.
WRAP_AFTER = 20


def _td(cell: str) -> str:
    """A table cell. Long prose wraps (class ``text``); a "mean [interval]" may break before its interval
    (class ``ci``), never inside a number, so the browser narrows a wide table before it overflows."""
    letters = sum(ch.isalpha() for ch in cell)
    if len(cell) > WRAP_AFTER and letters > sum(ch.isdigit() for ch in cell):
        return f"<td class=\"text\">{_inline(cell)}</td>"
    head, bracket, rest = cell.partition(" [")
    if bracket and head:
        return (f"<td class=\"ci\"><span>{_inline(head)}</span> "
                f"<span>{_inline(bracket.strip() + rest)}</span></td>")
    return f"<td>{_inline(cell)}</td>"


def _cells(line: str) -> list[str]:
    """The cells of a pipe-table row (``\\|`` is a literal bar inside a cell)."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def markdown_to_html(text: str, title: str) -> str:
    """A standalone HTML page for one Markdown table file."""
    lines = text.splitlines()
    body: list[str] = []
    i = 0
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            body.append("<p>" + "<br>\n".join(paragraph) + "</p>")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if line.lstrip().startswith("|") and i + 1 < len(lines) and _RULE.match(lines[i + 1].strip()):
            flush()
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            body.append("<table>\n<thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header) + "</tr></thead>")
            body.append("<tbody>")
            body += ["<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows]
            body.append("</tbody>\n</table>")
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            flush()
            level = len(heading.group(1))
            body.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif stripped.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].strip().startswith("- "):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif not stripped:
            flush()
        else:
            paragraph.append(_inline(stripped))
        i += 1
    flush()
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_html_tables(tables_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """``<out_dir>/<name>.html`` for every ``<tables_dir>/<name>.md``; returns the written paths."""
    sources = sorted(Path(tables_dir).glob("*.md"))
    if not sources:
        raise FileNotFoundError(f"{tables_dir}: no Markdown tables (make them with `fairbench report tables`)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sources:
        target = out / f"{source.stem}.html"
        write_text_atomic(target, markdown_to_html(source.read_text(), source.stem))
        paths.append(target)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--tables DIR --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m fairbench.reports.tables_html", description=__doc__)
    parser.add_argument("--tables", required=True, help="folder of <name>.md tables")
    parser.add_argument("--out", required=True, help="folder for the <name>.html pages")
    args = parser.parse_args(argv)
    try:
        paths = write_html_tables(args.tables, args.out)
    except FileNotFoundError as error:
        print(f"tables_html: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} HTML tables to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
