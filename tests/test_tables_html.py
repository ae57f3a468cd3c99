"""Markdown tables as HTML pages for the Snakemake report (fairbench.reports.tables_html)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fairbench.reports.render import Cell, Table, write_table
from fairbench.reports.tables_html import main, markdown_to_html, write_html_tables


def test_a_written_table_becomes_an_html_table(tmp_path: Path) -> None:
    table = Table(name="main_paper", title="Main results, paper protocol", header=["Setting", "Method", "AUC"],
                  rows=[[Cell("Adult (sex)"), Cell("NBS+LtR"), Cell("0.837 ± 0.006", bold=True)],
                        [Cell(""), Cell("a|b"), Cell("0.5", mark="†")]],
                  legend=["Bold: best in its column.", "†: differs from its one-stage counterpart."],
                  data=pd.DataFrame({"auc": [0.837, 0.5]}))
    write_table(table, tmp_path / "tables")
    paths = write_html_tables(tmp_path / "tables", tmp_path / "html")
    page = paths[0].read_text()
    assert paths[0].name == "main_paper.html"
    assert "<h3>Main results, paper protocol</h3>" in page
    assert page.count("<tr><td>") == 2
    assert "<td><b>0.837 ± 0.006</b></td>" in page and "<td>a|b</td>" in page and "<td>0.5†</td>" in page
    assert "<p>Bold: best in its column.<br>" in page


def test_text_is_escaped_and_lists_kept() -> None:
    page = markdown_to_html("# T\n\n- one <b>\n- `two`\n\nplain & simple\n", "t")
    assert "<ul><li>one &lt;b&gt;</li><li><code>two</code></li></ul>" in page and "plain &amp; simple" in page


def test_no_tables_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tables", str(tmp_path), "--out", str(tmp_path / "html")]) == 2
    assert "no Markdown tables" in capsys.readouterr().err
