"""Interval widths with few and many seeds (fairbench.reports.seed_count, tables.widths_table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.reports.collect import collect_runs
from fairbench.reports.seed_count import ci_widths_by_seeds, seed_count_table
from fairbench.reports.selection import select_epochs
from fairbench.reports.tables import MissingInputError, widths_table, write_tables
from tests.test_reports_fixtures import write_grid


def _selected(n_seeds: dict[str, int], *, spread: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """One row per run of standard-protocol configurations, metric values i.i.d. normal per seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, (method, n) in enumerate(n_seeds.items()):
        for s in range(n):
            rows.append({"experiment": "main", "protocol": "standard", "setting": "titanic-sex", "method": method,
                         "bargain_epochs": 5, "val_per_cell": 5, "seed": s, "run_dir": f"r/{method}/{s}",
                         "auc": 0.8 + spread * rng.standard_normal(), "worst_group_auc": 0.7 + spread * rng.standard_normal(),
                         "group_auc_gap": abs(0.1 + spread * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_widths_shrink_as_one_over_root_n_for_independent_seeds() -> None:
    methods = {f"m{i}": 25 for i in range(12)} | {"erm": 5}
    widths = ci_widths_by_seeds(_selected(methods), n_boot=1000)
    assert set(widths["method"]) == {f"m{i}" for i in range(12)}  # 5 seeds: nothing to compare
    assert (widths["n_few"] == 5).all() and (widths["n_all"] == 25).all()
    from fairbench.reports.seed_count import expected_width_ratio

    assert widths["expected"].round(3).eq(round(expected_width_ratio(5, 25), 3)).all()
    assert expected_width_ratio(5, 25) == pytest.approx(0.35, abs=0.005)  # t-intervals, not sqrt(5 / 25) = 0.45
    # the ratio of two noisy widths scatters, its median over 36 (configuration, metric) pairs does not
    assert widths["ratio"].median() == pytest.approx(expected_width_ratio(5, 25), abs=0.12)


def test_widths_use_the_smallest_seeds_and_match_a_direct_bootstrap() -> None:
    from fairbench.reports.stats import bootstrap_summary

    selected = _selected({"nbs_ltr": 9})
    widths = ci_widths_by_seeds(selected, few=3, n_boot=500).set_index("metric")
    first = bootstrap_summary(selected[selected["seed"] < 3], ["auc"], n_boot=500).iloc[0]
    assert widths.loc["auc", "width_few"] == pytest.approx(first["ci_high"] - first["ci_low"])
    full = bootstrap_summary(selected, ["auc"], n_boot=500).iloc[0]
    assert widths.loc["auc", "width_all"] == pytest.approx(full["ci_high"] - full["ci_low"])


def test_table_rows_and_median_ratio() -> None:
    widths = ci_widths_by_seeds(_selected({"erm": 20, "nbs_ltr": 20}), n_boot=300)
    table = seed_count_table(widths)
    assert table is not None and table.name == "ci_width_by_seeds"
    labels = [row[2].text for row in table.rows]
    assert labels == ["ERM", "NBS+LtR", "median ratio"]
    median_auc = widths[widths["metric"] == "auc"]["ratio"].median()
    assert table.rows[-1][4].text == f"{median_auc:.2f}"
    assert seed_count_table(ci_widths_by_seeds(_selected({"erm": 5}))) is None


def test_write_tables_writes_the_width_table_only_with_extra_seeds(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_grid(root, settings=["titanic-sex"], methods=["ltr", "nbs_ltr"], protocols=["standard"], seeds=range(7),
               epochs=4, bargain_epochs=2)
    frame = collect_runs(root)
    paths = write_tables(frame, tmp_path / "tables")
    assert tmp_path / "tables" / "ci_width_by_seeds.md" in paths
    data = pd.read_csv(tmp_path / "tables" / "ci_width_by_seeds.csv")
    assert set(data["n_all"]) == {7} and set(data["n_few"]) == {5}
    few = select_epochs(frame)
    with pytest.raises(MissingInputError, match="more than 5 seeds"):
        widths_table(few[few["seed"] < 5])


def test_widths_by_seed_count_steps_and_endpoints() -> None:
    from fairbench.reports.seed_count import widths_by_seed_count

    selected = _selected({"ltr": 12, "erm": 5})
    steps = widths_by_seed_count(selected, n_boot=300)
    assert set(steps["method"]) == {"ltr"} and sorted(steps["n"].unique()) == [5, 10, 12]
    ends = ci_widths_by_seeds(selected, n_boot=300).set_index("metric")
    auc = steps[steps["metric"] == "auc"].set_index("n")["width"]
    assert auc[5] == pytest.approx(ends.loc["auc", "width_few"]) and auc[12] == pytest.approx(ends.loc["auc", "width_all"])


def test_seed_count_figure_is_written_with_the_runs_figures(tmp_path: Path) -> None:
    from fairbench.reports.figures import write_figures

    root = tmp_path / "runs"
    write_grid(root, settings=["titanic-sex"], methods=["ltr", "nbs_ltr"], protocols=["standard"], seeds=range(7),
               epochs=4, bargain_epochs=2)
    paths = write_figures(collect_runs(root), tmp_path / "figures")
    assert tmp_path / "figures" / "ci_width_by_seeds_standard.png" in paths
    few = tmp_path / "few"
    write_grid(few, settings=["titanic-sex"], methods=["ltr"], protocols=["standard"], seeds=range(3), epochs=4,
               bargain_epochs=2)
    assert not any("ci_width" in p.name for p in write_figures(collect_runs(few), tmp_path / "figures_few"))
