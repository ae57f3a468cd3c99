"""A small table model and its Markdown, LaTeX (booktabs) and CSV renderings, written atomically."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fairbench.io import write_text_atomic, write_with_atomic

__all__ = ["Cell", "Table", "fmt_mean_std", "fmt_p", "fmt_signed", "to_latex", "to_markdown", "write_table"]

SIGNIFICANCE_MARK = "†"
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}"}
_LATEX_SYMBOLS = {"±": r"$\pm$", "†": r"$^{\dagger}$", "‡": r"$^{\ddagger}$", "–": "--", "≥": r"$\geq$", "≤": r"$\leq$", "§": r"\S{}",
                  "·": r"$\cdot$", "λ": r"$\lambda$"}


@dataclass(frozen=True)
class Cell:
    """One displayed cell: plain text, optionally bold, with an optional suffix mark (e.g. "†")."""

    text: str
    bold: bool = False
    mark: str = ""


@dataclass
class Table:
    """A rendered table: header, rows of cells, legend lines, and the numbers behind it (``data``, the CSV).

    ``group_column`` names the column whose repeated values are blanked (and separated by a rule in LaTeX).
    """

    name: str
    title: str
    header: list[str]
    rows: list[list[Cell]]
    legend: list[str]
    data: pd.DataFrame
    group_column: int | None = 0
    align: str = ""

    def _display_rows(self) -> list[tuple[bool, list[Cell]]]:
        """Rows with repeated group values blanked; the flag is True at the start of a new group."""
        out, previous = [], None
        for row in self.rows:
            if self.group_column is None:
                out.append((False, row))
                continue
            value = row[self.group_column].text
            new = value != previous
            previous = value
            shown = list(row)
            if not new:
                shown[self.group_column] = Cell("")
            out.append((new and bool(out), shown))
        return out


def fmt_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"0.812 ± 0.010"``; ``"0.812 ± –"`` for a single seed; ``"–"`` when there is no value."""
    if mean is None or math.isnan(mean):
        return "–"
    spread = "–" if std is None or math.isnan(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread}"


def fmt_p(p: float) -> str:
    """p-value with 3 significant digits; ``"–"`` for NaN."""
    if p is None or math.isnan(p):
        return "–"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def fmt_signed(value: float, digits: int) -> str:
    """A signed difference with ``digits`` decimals (``"+0.0123"``); never ``"-0.0000"``: a non-zero value
    that rounds to zero is shown in scientific notation (``"-3.2e-06"``), zero as ``"0"``, NaN as ``"–"``."""
    if value is None or math.isnan(value):
        return "–"
    if value == 0:
        return "0"
    if round(value, digits) == 0:
        return f"{value:+.1e}"
    return f"{value:+.{digits}f}"


def _md_cell(cell: Cell) -> str:
    text = cell.text.replace("|", "\\|")
    return (f"**{text}**" if cell.bold and text else text) + cell.mark


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: a heading, the table, then the legend lines."""
    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for _, row in table._display_rows()]
    lines += [""] + [f"{line}  " for line in table.legend]
    return "\n".join(lines).rstrip() + "\n"


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    for symbol, replacement in _LATEX_SYMBOLS.items():
        out = out.replace(symbol, replacement)
    return out


def _tex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    return (rf"\textbf{{{text}}}" if cell.bold and text else text) + latex_escape(cell.mark)


def to_latex(table: Table) -> str:
    """A ``table`` environment with a booktabs ``tabular``, caption and the legend as a footnote."""
    align = table.align or ("l" * min(2, len(table.header)) + "c" * max(0, len(table.header) - 2))
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(table.title)}}}", rf"\label{{tab:{table.name}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in table.header) + r" \\", r"\midrule"]
    for new_group, row in table._display_rows():
        if new_group:
            lines.append(r"\midrule")
        lines.append(" & ".join(_tex_cell(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.legend:
        lines.append(r"\par\vspace{2pt}{\footnotesize " + r" \\ ".join(latex_escape(s) for s in table.legend) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(table: Table, out_dir: str | Path) -> list[Path]:
    """Write ``<name>.md``, ``<name>.tex`` and ``<name>.csv`` (the numbers) atomically; returns the paths."""
    out = Path(out_dir)
    paths = [out / f"{table.name}.md", out / f"{table.name}.tex", out / f"{table.name}.csv"]
    write_text_atomic(paths[0], to_markdown(table))
    write_text_atomic(paths[1], to_latex(table))
    write_with_atomic(paths[2], lambda tmp: table.data.to_csv(tmp, index=False, float_format="%.6g"))
    return paths
