"""Method labels, order and styles come from the registry: a method added as the README says (one file
plus a registry entry) shows up, paired with its NBS variant, in every table and figure with its own label
and style."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from fairbench import registry
from fairbench.method.objectives import Objective
from fairbench.reports import figures, labels, stats
from fairbench.reports.collect import collect_runs
from fairbench.reports.tables import write_tables
from tests.test_reports_fixtures import write_grid


class WorstCell(Objective):
    """max_c L_c over (group, label) cells (the README's example)."""

    name = "worst_cell"
    label = "Worst cell"

    def cell_coefficients(self, cell_losses, val):  # noqa: ANN001, ANN201
        w = cell_losses.new_zeros(cell_losses.shape)
        w[int(cell_losses.argmax())] = 1.0
        return w


@pytest.fixture
def worst_cell_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.OBJECTIVES, "worst_cell", WorstCell)
    yield


def test_builtin_labels_and_families_follow_the_registry() -> None:
    assert labels.PAPER_METHODS == registry.PAPER_METHODS
    assert set(labels.OBJECTIVES) == set(registry.OBJECTIVES)
    assert labels.method_label("nbs_meta_gdro") == "NBS+Meta-gDRO" and labels.method_label("group_dro") == "Group DRO"
    styles = {m: labels.method_style(m) for m in registry.available_methods()}
    pairs = {(s["color"], s["marker"], str(s["linestyle"])) for s in styles.values()}
    assert len(pairs) == len(styles)  # every registered method is told apart
    assert len({s["label"] for s in styles.values()}) == len(styles)


def test_a_registered_objective_gets_its_own_label_order_and_style(worst_cell_registered) -> None:
    assert labels.method_label("worst_cell") == "Worst cell"
    assert labels.method_label("nbs_worst_cell") == "NBS+Worst cell"
    assert labels.split_method("mgda_worst_cell") == ("mgda", "worst_cell")
    styles = {m: labels.method_style(m) for m in registry.available_methods()}
    assert "nbs_worst_cell" in styles
    pairs = {(s["color"], s["marker"], str(s["linestyle"])) for s in styles.values()}
    assert len(pairs) == len(styles)
    assert styles["worst_cell"]["color"] not in {styles[m]["color"] for m in registry.OBJECTIVES if m != "worst_cell"}
    order = labels.method_order(["nbs_worst_cell", "worst_cell", "nbs_ltr", "erm", "group_dro"])
    assert order == ["erm", "nbs_ltr", "group_dro", "worst_cell", "nbs_worst_cell"]


def test_the_registry_pairs_every_objective_with_its_nbs_variant(worst_cell_registered) -> None:
    assert registry.nbs_pairs()["nbs_worst_cell"] == "worst_cell"
    assert dict(labels.NBS_PAIRS) == registry.nbs_pairs() and stats.NBS_PAIRS["nbs_ltr"] == "ltr"
    assert {"worst_cell", "nbs_worst_cell"} <= set(labels.meta_methods())


def test_a_method_added_in_one_file_is_in_every_table_and_figure(worst_cell_registered, tmp_path, monkeypatch) -> None:
    """An experiment named neither main nor comparisons, with a method registered here, reaches the main
    table, the curves, the trade-off, the alignment figure and table, the paired tests and the probability
    of improvement, paired with its NBS variant."""
    runs = tmp_path / "runs"
    write_grid(runs, settings=["titanic-sex"], methods=["erm", "ltr", "nbs_ltr", "worst_cell", "nbs_worst_cell"],
               protocols=["standard"], seeds=range(3), epochs=5, bargain_epochs=3, experiment_dir="mine",
               effects={"nbs_worst_cell": 0.05})
    frame = collect_runs(runs)
    drawn: dict[str, list[str]] = {}

    def recorder(kind, real):  # noqa: ANN001, ANN202
        def record(data, setting, protocol, out_dir, **kw):  # noqa: ANN001, ANN003, ANN202
            paths = real(data, setting, protocol, out_dir, **kw)
            drawn[kind] = sorted(set(figures._runs_for(data, setting, protocol, kw.get("methods") or (
                labels.meta_methods() if kind == "alignment" else None))["method"]))
            return paths
        return record

    for kind in ("curves", "tradeoff", "alignment"):
        monkeypatch.setattr(figures, f"{kind}_figure", recorder(kind, getattr(figures, f"{kind}_figure")))
    written = {p.name for p in figures.write_figures(frame, tmp_path / "figures")}
    assert {"curves_standard_titanic-sex.png", "tradeoff_standard_titanic-sex.png",
            "alignment_standard_titanic-sex.png"} <= written
    for kind in ("curves", "tradeoff", "alignment"):
        assert {"worst_cell", "nbs_worst_cell"} <= set(drawn[kind]), kind
    write_tables(frame, tmp_path / "tables")
    main = pd.read_csv(tmp_path / "tables" / "main_standard.csv")
    assert {"worst_cell", "nbs_worst_cell"} <= set(main["method"])
    alignment = pd.read_csv(tmp_path / "tables" / "alignment_standard.csv")
    assert {"worst_cell", "nbs_worst_cell"} <= set(alignment["method"])
    paired = pd.read_csv(tmp_path / "tables" / "paired_tests.csv")
    assert set(paired.loc[paired["method"] == "nbs_worst_cell", "baseline"]) == {"worst_cell"}
    assert set(paired["experiment"]) == {"mine"}
    improvement = pd.read_csv(tmp_path / "tables" / "improvement.csv")
    assert set(improvement.loc[improvement["method"] == "nbs_worst_cell", "baseline"]) == {"worst_cell"}
    assert "Worst cell" in (tmp_path / "tables" / "paired_tests.md").read_text()
