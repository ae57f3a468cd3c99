"""Method labels, order and styles come from the registry: a method added as the README says (one file
plus a registry entry) shows up in the main table and the learning curves with its own label and style."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fairbench import registry
from fairbench.method.objectives import Objective
from fairbench.reports import figures, labels
from fairbench.reports.collect import collect_runs
from fairbench.reports.selection import select_epochs
from fairbench.reports.tables import main_table
from tests.test_reports_fixtures import PAPER8, write_grid


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
    labels.method_families.cache_clear()
    yield
    labels.method_families.cache_clear()


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


def test_the_new_method_is_in_the_main_table_and_the_curves(worst_cell_registered, tmp_path, monkeypatch) -> None:
    methods = [*PAPER8, "worst_cell", "nbs_worst_cell"]
    write_grid(tmp_path, settings=["titanic-sex"], methods=methods, protocols=["standard"], seeds=range(3),
               epochs=5, bargain_epochs=3)
    frame = collect_runs(tmp_path)
    table = main_table(select_epochs(frame), "standard")
    assert {"Worst cell", "NBS+Worst cell"} <= {row[1].text for row in table.rows}
    drawn: dict[str, list[str]] = {}

    def fake_curves(frame, setting, protocol, out_dir, *, methods=PAPER8, **kw):  # noqa: ANN001, ANN003, ANN202
        drawn[setting] = list(methods)
        return []

    monkeypatch.setattr(figures, "curves_figure", fake_curves)
    try:
        figures.write_figures(frame, tmp_path / "figures")
    except Exception:  # noqa: BLE001 - the other figures do not matter here
        pass
    assert {"worst_cell", "nbs_worst_cell"} <= set(drawn["titanic-sex"])
