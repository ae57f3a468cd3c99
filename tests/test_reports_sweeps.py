"""Lambda sweeps in the reports (fairbench.reports.sweeps): the validation rule picks the point, the tables
and findings report only that point, the sweep table and the trade-off figure show every point, and a run
set without a sweep is reported as before."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from fairbench.reports import figures, sweeps, tables
from fairbench.reports.collect import collect_runs, prefer_experiments
from fairbench.reports.selection import select_epochs
from fairbench.reports.sweeps import CHOSEN_COLUMN, find_sweeps, prefer_chosen
from fairbench.reports.tables import comparisons_table, main_table, reference_experiments, sweep_table, write_tables
from tests.test_reports_fixtures import write_grid

EPOCHS = 6
SEEDS = range(3)
#: lambda -> experiment folder, as in config/config.yaml.
POINTS = {0.1: "fair_lambda_0p1", 0.3: "fair_lambda_0p3", 1.0: "fair_lambda_1", 3.0: "fair_lambda_3"}
#: Validation worst-group AUC per point: 0.3 is the best on validation.
VAL = {0.1: 0.60, 0.3: 0.80, 1.0: 0.70, 3.0: 0.55}
#: Test AUC shift per point: 1 is the best on test (higher AUC, lower gap, higher worst-group AUC).
TEST_EFFECT = {0.1: 0.0, 0.3: -0.02, 1.0: 0.08, 3.0: -0.04}
CONSTANT = {f"{rate}/{g}": [1.0] * EPOCHS for rate in ("tpr", "fpr") for g in ("female", "male")}


def _write_main(root: Path, methods: tuple[str, ...] = ("erm", "ltr", "nbs_ltr")) -> None:
    write_grid(root, settings=["adult-sex"], methods=methods, protocols=["standard"], seeds=SEEDS, epochs=EPOCHS,
               bargain_epochs=4, effects={"nbs_ltr": 0.04})


def _write_sweep(root: Path, *, points: dict[float, str] = POINTS, method: str = "diffdp",
                 degenerate_at: float | None = 3.0) -> None:
    for lam, experiment in points.items():
        overrides = {"val_worst_group_auc": [VAL[lam]] * EPOCHS, **(CONSTANT if lam == degenerate_at else {})}
        write_grid(root, settings=["adult-sex"], methods=[method], protocols=["standard"], seeds=SEEDS,
                   epochs=EPOCHS, bargain_epochs=4, experiment_dir=experiment, fair_lambda=lam,
                   effects={method: TEST_EFFECT[lam]}, overrides=overrides)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("sweep_runs")
    _write_main(root)
    _write_sweep(root)
    return collect_runs(root)


@pytest.fixture(scope="module")
def selected(runs: pd.DataFrame) -> pd.DataFrame:
    return select_epochs(runs)


def _point_means(selected: pd.DataFrame, metric: str) -> pd.Series:
    diffdp = selected[selected["method"] == "diffdp"]
    return diffdp.groupby("fair_lambda")[metric].mean()


def test_collected_runs_carry_their_fair_lambda(runs: pd.DataFrame) -> None:
    per_run = runs.drop_duplicates("run_dir")
    diffdp = per_run[per_run["method"] == "diffdp"]
    assert dict(zip(diffdp["experiment"], diffdp["fair_lambda"])) == {e: lam for lam, e in POINTS.items()}
    assert (per_run.loc[per_run["method"] == "erm", "fair_lambda"] == 1.0).all()


def test_the_rule_picks_the_validation_best_point_not_the_test_best(selected: pd.DataFrame) -> None:
    test_best = {m: _point_means(selected, m).idxmax() for m in ("auc", "worst_group_auc")}
    assert test_best == {"auc": 1.0, "worst_group_auc": 1.0}  # the fixture's test-best point differs ...
    assert _point_means(selected, "val_worst_group_auc").idxmax() == 0.3  # ... from its validation-best one
    found = find_sweeps(selected, reference_experiments(selected))
    points = found.points
    assert sorted(points["fair_lambda"]) == [0.1, 0.3, 1.0, 3.0]
    assert points.loc[points["chosen"], "fair_lambda"].tolist() == [0.3]
    np.testing.assert_allclose(points.set_index("fair_lambda")["criterion_mean"].sort_index().to_numpy(),
                               [VAL[lam] for lam in sorted(VAL)], rtol=0, atol=4 * np.finfo(float).eps)
    # without the rule the first experiment in name order (lambda 0.1) would be reported
    old = prefer_experiments(selected, reference_experiments(selected))
    assert set(old.loc[old["method"] == "diffdp", "fair_lambda"]) == {0.1}
    kept = prefer_chosen(selected, reference_experiments(selected))
    assert set(kept.loc[kept["method"] == "diffdp", "fair_lambda"]) == {0.3}
    assert kept.loc[kept["method"] == "diffdp", CHOSEN_COLUMN].all() and not kept.loc[kept["method"] == "erm",
                                                                                       CHOSEN_COLUMN].any()


def test_a_tie_goes_to_the_smaller_lambda(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _write_main(root, methods=("erm",))
    for lam in (1.0, 0.3):
        VAL_TIE = {0.3: 0.75, 1.0: 0.75}
        write_grid(root, settings=["adult-sex"], methods=["diffeopp"], protocols=["standard"], seeds=SEEDS,
                   epochs=EPOCHS, bargain_epochs=4, experiment_dir=POINTS[lam], fair_lambda=lam,
                   effects={"diffeopp": TEST_EFFECT[lam]}, overrides={"val_worst_group_auc": [VAL_TIE[lam]] * EPOCHS})
    selected = select_epochs(collect_runs(root))
    points = find_sweeps(selected, reference_experiments(selected)).points
    assert points.loc[points["chosen"], "fair_lambda"].tolist() == [0.3]


def test_the_main_and_comparisons_tables_show_the_chosen_lambda_only(selected: pd.DataFrame) -> None:
    chosen = selected[(selected["method"] == "diffdp") & (selected["fair_lambda"] == 0.3)]
    for table in (main_table(selected, "standard"), comparisons_table(selected, "standard")):
        rows = [r for r in table.rows if r[1].text.startswith("DiffDP")]
        assert len(rows) == 1 and rows[0][1].text.startswith("DiffDP (λ = 0.3)"), [r[1].text for r in rows]
        assert rows[0][2].text == str(len(SEEDS))
        record = table.data.set_index("method").loc["diffdp"]
        assert record["fair_lambda"] == 0.3 and np.isnan(table.data.set_index("method").loc["erm", "fair_lambda"])
        np.testing.assert_allclose(record["auc_mean"], chosen["auc"].mean(), rtol=4 * np.finfo(float).eps)
        assert any("highest mean validation worst-group AUC" in line for line in table.legend)


def test_the_sweep_table_lists_every_point_and_marks_the_chosen_one(selected: pd.DataFrame) -> None:
    table = sweep_table(selected, "standard")
    data = table.data.sort_values("fair_lambda")
    assert data["fair_lambda"].tolist() == [0.1, 0.3, 1.0, 3.0]
    assert data["chosen"].tolist() == [False, True, False, False]
    assert data["experiment"].tolist() == [POINTS[lam] for lam in sorted(POINTS)]
    np.testing.assert_allclose(data["val_worst_group_auc_mean"], [VAL[lam] for lam in sorted(VAL)], rtol=0,
                               atol=4 * np.finfo(float).eps)
    np.testing.assert_allclose(data["auc_mean"], _point_means(selected, "auc").sort_index(),
                               rtol=4 * np.finfo(float).eps)
    assert (data["auc_ci_low"] < data["auc_mean"]).all() and (data["auc_mean"] < data["auc_ci_high"]).all()
    marks = {float(r[2].text): (r[1].text, r[2].bold, r[-1].text) for r in table.rows}
    assert marks[0.3] == ("DiffDP", True, "chosen")
    assert marks[3.0] == (f"DiffDP ‡ {len(SEEDS)}/{len(SEEDS)}", False, "")  # the degenerate point is marked
    assert {marks[lam][2] for lam in (0.1, 1.0)} == {""}
    with pytest.raises(tables.MissingInputError, match="no lambda sweep under the paper protocol"):
        sweep_table(selected, "paper")


def test_write_tables_reports_the_chosen_point_and_writes_the_sweep_table(runs: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_tables(runs, tmp_path)
    assert {"sweep_standard.md", "sweep_standard.csv"} <= {p.name for p in paths}
    main = pd.read_csv(tmp_path / "main_standard.csv").set_index("method")
    assert main.loc["diffdp", "fair_lambda"] == 0.3
    sweep = pd.read_csv(tmp_path / "sweep_standard.csv")
    assert len(sweep) == len(POINTS) and sweep["chosen"].sum() == 1
    degenerate = pd.read_csv(tmp_path / "degenerate_runs.csv").set_index("method")
    assert degenerate.loc["diffdp", "n_runs"] == len(SEEDS)  # one point's runs, not all four
    every_run = pd.read_csv(tmp_path / "selected_runs.csv")
    diffdp = every_run[every_run["method"] == "diffdp"]
    assert len(diffdp) == len(POINTS) * len(SEEDS)  # the run list keeps every point, the chosen one marked
    assert set(diffdp.loc[diffdp[CHOSEN_COLUMN], "fair_lambda"]) == {0.3}
    assert "sweep_standard" in (tmp_path / "index.md").read_text()


def test_a_run_set_without_a_sweep_is_reported_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same lambda in two experiments is no sweep: the earlier experiment's runs are kept, as before; the
    tables are byte-identical to those written with the sweep step switched off."""
    root = tmp_path / "runs"
    _write_main(root)
    _write_sweep(root, points={1.0: "fair_lambda_1"}, degenerate_at=None)
    write_grid(root, settings=["adult-sex"], methods=["diffdp"], protocols=["standard"], seeds=SEEDS, epochs=EPOCHS,
               bargain_epochs=4, experiment_dir="zz_other", fair_lambda=1.0, effects={"diffdp": 0.05})
    frame = collect_runs(root)
    selected = select_epochs(frame)
    assert not find_sweeps(selected, reference_experiments(selected))
    kept = prefer_chosen(selected, reference_experiments(selected))
    assert set(kept.loc[kept["method"] == "diffdp", "experiment"]) == {"fair_lambda_1"}
    write_tables(frame, tmp_path / "with")
    monkeypatch.setattr(tables, "find_sweeps", lambda *a, **k: sweeps._empty())
    monkeypatch.setattr(tables, "prefer_chosen", prefer_experiments)
    write_tables(frame, tmp_path / "without")
    names = sorted(p.name for p in (tmp_path / "with").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "without").iterdir())
    assert not any(n.startswith("sweep_") for n in names)
    for name in names:
        assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "without" / name).read_bytes(), name


def _drawn(monkeypatch: pytest.MonkeyPatch) -> list:
    """Figures handed to save_figure (still open), for the tests to inspect."""
    figs: list = []
    real = figures.save_figure

    def keep(fig, stem, formats=figures.FORMATS):  # noqa: ANN001, ANN202
        figs.append(fig)
        return real(fig, stem, ("png",))
    monkeypatch.setattr(figures, "save_figure", keep)
    return figs


def _sweep_lines(fig) -> dict[str, object]:  # noqa: ANN001
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines()
            if str(line.get_gid()).startswith("sweep:")}


def test_the_tradeoff_figure_draws_the_sweep_as_a_curve(selected: pd.DataFrame, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    figs = _drawn(monkeypatch)
    paths = figures.tradeoff_figure(selected, "adult-sex", "standard", tmp_path)
    assert [p.name for p in paths] == ["tradeoff_standard_adult-sex.png"] and paths[0].stat().st_size > 0
    lines = _sweep_lines(figs[0])
    assert set(lines) == {"sweep:diffdp"}
    means = selected[selected["method"] == "diffdp"].groupby("fair_lambda")[["group_auc_gap", "auc"]].mean()
    x, y = lines["sweep:diffdp"].get_data()
    np.testing.assert_allclose(x, means["group_auc_gap"].sort_index(), rtol=4 * np.finfo(float).eps)
    np.testing.assert_allclose(y, means["auc"].sort_index(), rtol=4 * np.finfo(float).eps)
    texts = {t.get_text(): t.get_fontweight() for ax in figs[0].axes for t in ax.texts}
    assert set(texts) == {"λ=0.1", "λ=0.3", "λ=1", "λ=3"}
    assert [k for k, w in texts.items() if w == "bold"] == ["λ=0.3"]
    assert "dotted lines: a regulariser's lambda sweep" in figs[0]._suptitle.get_text().replace("\n", " ")


def test_a_single_point_draws_no_curve_and_write_figures_draws_the_sweep(tmp_path: Path, runs: pd.DataFrame,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "runs"
    _write_main(root)
    _write_sweep(root, points={1.0: "fair_lambda_1"}, degenerate_at=None)
    figs = _drawn(monkeypatch)
    figures.tradeoff_figure(select_epochs(collect_runs(root)), "adult-sex", "standard", tmp_path / "one")
    assert _sweep_lines(figs[-1]) == {}
    assert "lambda sweep" not in figs[-1]._suptitle.get_text()
    fig, ax = plt.subplots()
    one = pd.DataFrame({"method": ["diffdp"], "fair_lambda": [1.0], "auc": [0.8], "gap": [0.1], "chosen": [True]})
    figures._sweep_curves(ax, one, ["diffdp"])
    assert not ax.get_lines() and not ax.texts  # one point is no curve
    plt.close(fig)
    figures.write_figures(runs, tmp_path / "all")
    tradeoff = [f for f in figs[1:] if "AUC vs disparity" in f._suptitle.get_text()]
    assert len(tradeoff) == 1 and set(_sweep_lines(tradeoff[0])) == {"sweep:diffdp"}


def test_a_sweep_without_its_criterion_is_a_clear_error(selected: pd.DataFrame) -> None:
    broken = selected.copy()
    broken.loc[(broken["method"] == "diffdp") & (broken["fair_lambda"] == 1.0), "val_worst_group_auc"] = np.nan
    with pytest.raises(ValueError, match=r"lambda sweep of standard adult-sex diffdp: .*lambda=1\.0"):
        find_sweeps(broken, reference_experiments(broken))


def test_the_regularisers_display_labels_come_from_their_classes() -> None:
    from baselines.adversarial import AdversarialDebiasing
    from baselines.diffdp import DiffDP
    from fairbench.reports.labels import method_label

    assert [method_label(m) for m in ("diffdp", "diffeopp", "diffeodd", "adv_debias")] == [
        "DiffDP", "DiffEopp", "DiffEodd", "Adv. debiasing"]
    assert method_label("diffdp") == DiffDP.label and method_label("adv_debias") == AdversarialDebiasing.label
