"""Tables: bold cells, significance marks, files and their numbers (fairbench.reports.tables)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fairbench.reports.collect import collect_runs
from fairbench.reports.render import latex_escape
from fairbench.reports.selection import select_epochs
from fairbench.reports.stats import paired_tests
from fairbench.reports.tables import (MissingInputError, alignment_table, comparisons_table, main_table,
                                      paired_tests_table, protocols_table, write_tables)
from tests.test_reports_fixtures import write_grid, write_run

EFFECTS = {"nbs_ltr": 0.06, "erm": -0.03}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("runs")
    write_grid(root, seeds=range(4), epochs=6, bargain_epochs=4, effects=EFFECTS)
    write_grid(root, settings=["adult-sex"], methods=["mgda_ltr", "group_dro"], protocols=["standard"],
               seeds=range(4), epochs=6, bargain_epochs=4, experiment_dir="comparisons")
    write_run(root, method="ltr", seed=7, status="failed")
    return collect_runs(root)


@pytest.fixture(scope="module")
def selected(runs: pd.DataFrame) -> pd.DataFrame:
    return select_epochs(runs)


def _cells(table) -> dict[tuple[str, str, str], object]:  # noqa: ANN001
    """(setting label, method label, column) -> Cell, with the blanked setting filled back in."""
    out, setting = {}, None
    for row in table.rows:
        setting = row[0].text or setting
        for header, cell in zip(table.header[2:], row[2:]):
            out[(setting, row[1].text, header)] = cell
    return out


def test_bold_marks_the_best_mean_per_setting_and_column(selected: pd.DataFrame) -> None:
    table = main_table(selected, "paper")
    cells = _cells(table)
    sub = selected[(selected["protocol"] == "paper")]
    means = sub.groupby(["setting", "method"])[["auc", "group_auc_gap", "worst_group_auc"]].mean().round(3)
    labels = {"adult-sex": "Adult (sex)", "titanic-sex": "Titanic (sex)"}
    names = {"erm": "ERM", "dro": "DRO", "ltr": "LtR", "forml": "FORML", "meta_gdro": "Meta-gDRO",
             "nbs_ltr": "NBS+LtR", "nbs_forml": "NBS+FORML", "nbs_meta_gdro": "NBS+Meta-gDRO"}
    for metric, header, best in (("auc", "Overall AUC", "max"), ("group_auc_gap", "Max-gAUCD", "min"),
                                 ("worst_group_auc", "Worst-gAUC", "max")):
        for setting, label in labels.items():
            column = means.loc[setting, metric]
            winners = set(column[column == getattr(column, best)()].index)
            bold = {m for m in names if cells[(label, names[m], header)].bold}
            assert bold == winners, (metric, setting)
    assert cells[("Adult (sex)", "NBS+LtR", "Overall AUC")].bold  # the planted effect wins
    assert cells[("Adult (sex)", "ERM", "Max-gAUCD")].bold is False
    assert "Score AUC" not in table.header and "Score AUC" in main_table(selected, "standard").header


def test_dagger_marks_exactly_the_significant_nbs_cells(selected: pd.DataFrame) -> None:
    tests = paired_tests(selected, ["auc", "group_auc_gap", "worst_group_auc"])
    table = main_table(selected, "paper", tests=tests)
    cells = _cells(table)
    header = {"auc": "Overall AUC", "group_auc_gap": "Max-gAUCD", "worst_group_auc": "Worst-gAUC"}
    label = {"adult-sex": "Adult (sex)", "titanic-sex": "Titanic (sex)"}
    method = {"nbs_ltr": "NBS+LtR", "nbs_forml": "NBS+FORML", "nbs_meta_gdro": "NBS+Meta-gDRO"}
    sig = tests[(tests["protocol"] == "paper") & tests["significant"]]
    expected = {(label[r.setting], method[r.method], header[r.metric]) for r in sig.itertuples()}
    marked = {key for key, cell in cells.items() if cell.mark == "†"}
    assert marked == expected
    assert ("Adult (sex)", "NBS+LtR", "Overall AUC") in marked  # the planted effect is detected
    assert any("†" in line and "Holm" in line for line in table.legend)
    untested = main_table(selected, "paper")
    assert untested.rows and not any(c.mark for c in _cells(untested).values())


def test_written_files_hold_the_numbers(runs: pd.DataFrame, selected: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_tables(runs, tmp_path)
    names = {p.name for p in paths}
    for stem in ("main_paper", "main_standard", "alignment_paper", "alignment_standard", "comparisons_standard",
                 "paired_tests", "protocols"):
        assert {f"{stem}.md", f"{stem}.tex", f"{stem}.csv"} <= names
        assert all((tmp_path / f"{stem}.{ext}").stat().st_size > 200 for ext in ("md", "tex", "csv"))
    assert not list(tmp_path.glob(".*.part"))
    data = pd.read_csv(tmp_path / "main_paper.csv")
    row = data[(data["setting"] == "adult-sex") & (data["method"] == "nbs_ltr")].iloc[0]
    values = selected[(selected["protocol"] == "paper") & (selected["setting"] == "adult-sex")
                      & (selected["method"] == "nbs_ltr")]["auc"]
    assert row["auc_mean"] == pytest.approx(values.mean(), abs=1e-6)
    assert row["auc_std"] == pytest.approx(values.std(ddof=1), abs=1e-6)
    assert bool(row["auc_best"]) and bool(row["auc_significant"])
    assert row["auc_ci_low"] < values.mean() < row["auc_ci_high"]
    text = f"{values.mean():.3f} [{row['auc_ci_low']:.3f}, {row['auc_ci_high']:.3f}]"
    assert f"**{text}**†" in (tmp_path / "main_paper.md").read_text()
    tex = (tmp_path / "main_paper.tex").read_text()
    assert rf"\textbf{{{text}}}$^{{\dagger}}$" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex
    index = (tmp_path / "index.md").read_text()
    assert "Failed or unfinished runs (excluded): 1" in index and "seed 7" in index
    assert len(pd.read_csv(tmp_path / "failed_runs.csv")) == 1
    tests = pd.read_csv(tmp_path / "paired_tests.csv")
    assert {"p_value", "p_holm", "significant"} <= set(tests.columns) and len(tests) == 2 * 2 * 3 * 4


def test_alignment_table_averages_the_bargaining_epochs(tmp_path: Path) -> None:
    # paper protocol, T = 4: bargaining covers epochs 1-3
    align = [0.1, 0.2, 0.3, 0.9, 0.9, 0.9]
    for seed, shift in ((0, 0.0), (1, 0.1)):
        write_run(tmp_path, method="ltr", seed=seed, epochs=6, bargain_epochs=4,
                  overrides={"alignment_rate": [a + shift for a in align]})
        write_run(tmp_path, method="nbs_ltr", seed=seed, epochs=6, bargain_epochs=4)
    # T beyond the window: 15 epochs at most
    write_run(tmp_path, method="ltr", setting="titanic-sex", epochs=20, bargain_epochs=20,
              overrides={"alignment_rate": [float(e) for e in range(1, 21)]})
    table = alignment_table(collect_runs(tmp_path), "paper")
    data = table.data.set_index(["setting", "method"])
    assert data.loc[("adult-sex", "ltr"), "alignment_rate_mean"] == pytest.approx((0.2 + 0.3) / 2)
    assert data.loc[("adult-sex", "ltr"), "alignment_rate_std"] == pytest.approx(pd.Series([0.2, 0.3]).std())
    assert data.loc[("adult-sex", "ltr"), "window_epochs"] == 3
    assert data.loc[("adult-sex", "nbs_ltr"), "alignment_rate_mean"] == pytest.approx(0.9)  # stage-1 value
    assert data.loc[("adult-sex", "nbs_ltr"), "nbs_failure_rate_mean"] == pytest.approx(0.05)
    assert data.loc[("titanic-sex", "ltr"), "window_epochs"] == 15
    assert data.loc[("titanic-sex", "ltr"), "alignment_rate_mean"] == pytest.approx(8.0)  # mean of 1..15


def test_comparisons_table_lists_every_method(selected: pd.DataFrame) -> None:
    table = comparisons_table(selected)
    assert table.name == "comparisons_standard"
    methods = {row[1].text for row in table.rows}
    assert {"MGDA+LtR", "Group DRO", "NBS+LtR", "ERM"} <= methods


def test_protocols_table_puts_both_protocols_side_by_side(selected: pd.DataFrame) -> None:
    table = protocols_table(selected)
    assert "Overall AUC (paper)" in table.header and "Overall AUC (standard)" in table.header
    row = table.data.set_index(["setting", "method"]).loc[("titanic-sex", "dro")]
    for protocol in ("paper", "standard"):
        values = selected[(selected["protocol"] == protocol) & (selected["setting"] == "titanic-sex")
                          & (selected["method"] == "dro") & (selected["experiment"] == "main")]["auc"]
        assert row[f"auc_{protocol}_mean"] == pytest.approx(values.mean())


def test_missing_inputs_are_errors_not_empty_tables(selected: pd.DataFrame, tmp_path: Path) -> None:
    only_comparisons = selected[selected["method"].isin(["mgda_ltr", "group_dro"])]
    with pytest.raises(MissingInputError, match="main table"):
        main_table(only_comparisons, "standard")
    with pytest.raises(MissingInputError, match="no paired tests"):
        paired_tests_table(paired_tests(only_comparisons, ["auc"]))
    with pytest.raises(MissingInputError, match="both protocols"):
        protocols_table(selected[selected["protocol"] == "paper"])
    with pytest.raises(ValueError, match="nothing to tabulate"):
        write_tables(selected.iloc[0:0], tmp_path)


def test_single_protocol_run_set_skips_the_side_by_side_table(tmp_path: Path) -> None:
    write_grid(tmp_path / "runs", settings=["adult-sex"], methods=["ltr", "nbs_ltr"], protocols=["paper"],
               seeds=range(3), epochs=4)
    write_tables(collect_runs(tmp_path / "runs"), tmp_path / "out")
    assert not (tmp_path / "out" / "protocols.md").exists()
    assert "protocols table needs runs of both protocols" in (tmp_path / "out" / "index.md").read_text()


def test_latex_escaping() -> None:
    assert latex_escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"
    assert latex_escape("0.8 ± 0.1†") == r"0.8 $\pm$ 0.1$^{\dagger}$"


def test_bold_needs_two_competing_rows_and_never_marks_the_worse_value() -> None:
    from fairbench.reports.tables import _best_mask

    lone = pd.Series([0.80, float("nan"), float("nan")])  # one eligible row: nothing competes
    assert not _best_mask(lone, higher=True).any() and not _best_mask(lone, higher=False).any()
    tie = pd.Series([0.80, 0.80, float("nan")])  # all eligible rows equal: none is better
    assert not _best_mask(tie, higher=True).any()
    pair = pd.Series([0.10, 0.30, float("nan")])
    assert _best_mask(pair, higher=False).tolist() == [True, False, False]
    assert _best_mask(pair, higher=True).tolist() == [False, True, False]


def test_a_lone_eligible_row_is_not_bold_in_any_column(tmp_path: Path) -> None:
    for seed in range(3):
        write_run(tmp_path, setting="titanic-sex", method="ltr", seed=seed, protocol="standard")
    table = main_table(select_epochs(collect_runs(tmp_path)), "standard")
    assert len(table.rows) == 1 and not any(cell.bold for cell in table.rows[0])


def test_main_table_has_an_n_column_and_marks_seed_only_rows_instead_of_listing_them(selected: pd.DataFrame) -> None:
    from fairbench.reports.bootstrap import CellCounts  # noqa: F401  (the counts map run_dir -> cell counts)
    from fairbench.reports.tables import SEED_ONLY_MARK

    table = main_table(selected, "standard")
    assert table.header[2] == "n" and {row[2].text for row in table.rows} == {"4"}
    # no run has predictions.npz here: every row is seed-only, said once in the legend, no list of rows
    legend = " ".join(table.legend)
    assert "every row: seeds only" in legend and "Adult (sex) ERM" not in legend
    assert not any(SEED_ONLY_MARK in row[1].text for row in table.rows)


def test_paired_tests_never_print_negative_zero() -> None:
    from fairbench.reports.render import fmt_signed

    assert fmt_signed(-3.2e-6, 4) == "-3.2e-06" and fmt_signed(0.0, 4) == "0" and fmt_signed(-0.01234, 4) == "-0.0123"
    assert fmt_signed(float("nan"), 4) == "–"


def test_rows_without_predictions_carry_the_seed_only_mark(tmp_path: Path) -> None:
    from fairbench.reports.tables import SEED_ONLY_MARK
    from tests.test_reports_evidence_fixtures import write_predicted_run

    for seed in range(3):
        write_predicted_run(tmp_path, method="ltr", seed=seed, accuracy=0.9)
        write_run(tmp_path, setting="titanic-sex", method="dro", seed=seed, protocol="paper")
    table = main_table(select_epochs(collect_runs(tmp_path)), "paper")
    marks = {row[1].text.split(" ")[0]: row[1].text.endswith(SEED_ONLY_MARK) for row in table.rows}
    assert marks == {"LtR": False, "DRO": True}
    legend = " ".join(table.legend)
    assert f"{SEED_ONLY_MARK}: seeds only" in legend and "Titanic" not in legend
