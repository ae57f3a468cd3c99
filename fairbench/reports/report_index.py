"""The report's entry page (``<results>/report/index.html``): one page that links every table page, every
figure (shown, with its PDF) and the findings, and says what the runs could not support (the tables'
and the figures' ``index.md``). Links are relative, so the folder can be moved or served as it is.

``python -m fairbench.reports.report_index --out results/report/index.html --tables results/report/tables
--figures results/figures/runs results/figures/synthetic --findings results/report/findings.html``
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from fairbench.io import write_text_atomic

__all__ = ["entry_page", "write_entry_page"]

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; max-width: 1360px; }
ul { columns: 2; } li { margin: 2px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 320px; } figure img { width: 320px; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #444; }
.lacks li { color: #7a4b00; }
"""
_ITEM = re.compile(r"^- (.*)$")


def _href(target: Path, page: Path) -> str:
    """``target`` relative to the folder of ``page``, as a URL path."""
    return html.escape(Path(os.path.relpath(target, page.parent)).as_posix(), quote=True)


def _title(page: Path) -> str:
    """The ``<h3>``/``<h1>`` heading of a table page, else its file name."""
    found = re.search(r"<h[1-3]>(.*?)</h[1-3]>", page.read_text(encoding="utf-8"), flags=re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)) if found else page.stem


def _lacking(index_md: Path) -> list[str]:
    """The items under a '## Skipped' or '## Not drawn' heading of a tables or figures ``index.md``."""
    if not index_md.exists():
        return []
    items, inside = [], False
    for line in index_md.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.startswith(("## Skipped", "## Not drawn"))
        elif inside and _ITEM.match(line):
            items.append(_ITEM.match(line).group(1))
    return items


def entry_page(out: Path, tables: Path | None, figures: Sequence[Path], findings: Path | None,
               tables_source: Path | None = None) -> str:
    """The HTML of the entry page written at ``out`` (links are relative to it)."""
    body = ["<h1>fairbench results</h1>",
            "<p>Every table, figure and the findings of this results folder; every number comes from the run "
            "records (<code>runs/</code>). The tables are also in Markdown, LaTeX and CSV in the results "
            "folder's <code>tables/</code>.</p>"]
    if findings is not None and findings.exists():
        body.append(f'<h2>Findings</h2>\n<p><a href="{_href(findings, out)}">The paper\'s claims against the runs, '
                    "with verdicts</a></p>")
    pages = sorted(p for p in tables.glob("*.html") if p.name != "index.html") if tables else []
    if pages:
        body.append("<h2>Tables</h2>\n<ul>" + "".join(
            f'<li><a href="{_href(p, out)}">{html.escape(_title(p))}</a> <small>({p.stem})</small></li>'
            for p in pages) + "</ul>")
    lacks = _lacking(tables_source / "index.md") if tables_source else []
    for folder in figures:
        images = sorted(folder.glob("*.png"))
        if images:
            cards = []
            for image in images:
                pdf = image.with_suffix(".pdf")
                extra = f' · <a href="{_href(pdf, out)}">PDF</a>' if pdf.exists() else ""
                cards.append(f'<figure><a href="{_href(image, out)}"><img src="{_href(image, out)}" '
                             f'alt="{html.escape(image.stem)}"></a>'
                             f"<figcaption>{html.escape(image.stem)}{extra}</figcaption></figure>")
            body.append(f"<h2>Figures: {html.escape(folder.name)}</h2>\n<div class=\"figures\">"
                        + "".join(cards) + "</div>")
        lacks += _lacking(folder / "index.md")
    if lacks:
        body.append("<h2>Not built: what the runs lack</h2>\n<ul class=\"lacks\">"
                    + "".join(f"<li>{html.escape(item)}</li>" for item in lacks) + "</ul>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fairbench results</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_entry_page(out: str | Path, *, tables: str | Path | None = None, figures: Sequence[str | Path] = (),
                     findings: str | Path | None = None, tables_source: str | Path | None = None) -> Path:
    """Write the entry page to ``out``; every folder named must exist (a missing one is an error)."""
    out = Path(out)
    named = [Path(p) for p in (tables, tables_source, *figures) if p is not None]
    missing = [str(p) for p in named if not p.is_dir()]
    if missing:
        raise FileNotFoundError(f"no such folder: {', '.join(missing)} (build the tables and figures first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, entry_page(out, Path(tables) if tables else None, [Path(f) for f in figures],
                                      Path(findings) if findings else None,
                                      Path(tables_source) if tables_source else None))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--out FILE [--tables DIR] [--tables-source DIR] [--figures DIR ...] [--findings FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m fairbench.reports.report_index", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the entry page, e.g. results/report/index.html")
    parser.add_argument("--tables", default=None, help="folder of the HTML table pages")
    parser.add_argument("--tables-source", default=None, help="folder of the tables (its index.md lists skipped ones)")
    parser.add_argument("--figures", nargs="*", default=[], help="folders of figures (*.png, index.md)")
    parser.add_argument("--findings", default=None, help="the findings page (HTML)")
    args = parser.parse_args(argv)
    try:
        path = write_entry_page(args.out, tables=args.tables, figures=args.figures, findings=args.findings,
                                tables_source=args.tables_source)
    except FileNotFoundError as error:
        print(f"report_index: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
