"""What the figures say about their numbers: labelled, clipped bands; the applied alignment rate;
degenerate methods marked and off the Pareto front; tied methods visible; coinciding NBS variants
named (fairbench.reports.figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fairbench.reports import figures
from fairbench.reports.collect import collect_runs
from fairbench.reports.selection import select_epochs
from fairbench.reports.stats import STAGE1_COLUMNS
from tests.test_reports_evidence_fixtures import write_predicted_run
from tests.test_reports_fixtures import write_grid


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Figures handed to save_figure, kept open for inspection instead of written."""
    kept: list[Figure] = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, stem, formats=None: kept.append(fig) or [])
    return kept


def _texts(fig: Figure) -> str:
    parts = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        parts.append(ax.get_title())
        parts += ax.get_legend_handles_labels()[1]
    for legend in fig.legends:
        parts += [t.get_text() for t in legend.get_texts()]
    return "\n".join(parts)


def test_band_is_a_clipped_bootstrap_interval_of_the_seed_mean() -> None:
    rng = np.random.default_rng(0)
    values = np.clip(rng.normal(0.02, 0.05, size=(5, 30)), 0, 1)  # a gap near 0
    mean, low, high = figures.seed_mean_band(values, rng=rng)
    assert np.allclose(mean, values.mean(axis=0))
    assert (low >= 0).all() and (high <= 1).all() and (low <= mean + 1e-12).all() and (mean <= high + 1e-12).all()
    assert (high - low).max() < 4 * values.std(axis=0, ddof=1).max() / np.sqrt(5)  # an interval of the mean
    same = figures.seed_mean_band(np.tile(values[:1], (5, 1)), rng=rng)
    assert np.allclose(same[1], same[2])


def test_curves_say_what_the_band_is_and_name_degenerate_methods(tmp_path: Path, captured: list[Figure]) -> None:
    for seed in range(3):
        write_predicted_run(tmp_path, method="erm", seed=seed, constant=1)
        for method in ("ltr", "nbs_ltr"):
            write_predicted_run(tmp_path, method=method, seed=seed, accuracy=0.95)
    frame = collect_runs(tmp_path)
    flagged = figures.flag_degenerate(select_epochs(frame), {})
    figures.curves_figure(frame, "titanic-sex", "paper", tmp_path, flagged=flagged)
    text = _texts(captured[0])
    assert "95 % CI of the seed mean" in text and "n = 3 seeds" in text
    assert "ERM ‡ 3/3 degenerate" in text and "LtR (n=3)" in text
    for ax in captured[0].axes:
        for poly in ax.collections:
            vertices = np.concatenate([p.vertices for p in poly.get_paths()])
            assert vertices[:, 1].min() >= 0 and vertices[:, 1].max() <= 1


def test_tradeoff_keeps_degenerate_methods_off_the_front_and_draws_one_marker_per_tie(
        tmp_path: Path, captured: list[Figure]) -> None:
    for seed in range(3):
        write_predicted_run(tmp_path, method="erm", seed=seed, constant=0)  # AUC 0.5, gap 0: "fairest"
        write_predicted_run(tmp_path, method="ltr", seed=seed, accuracy=0.9)
    frame = collect_runs(tmp_path)
    # two methods with exactly LtR's numbers: one tie of three, drawn as one marker with one label
    twins = [frame[frame["method"] == "ltr"].assign(method=m, run_dir=lambda f, m=m: f["run_dir"] + "-" + m)
             for m in ("forml", "nbs_ltr")]
    selected = select_epochs(pd.concat([frame, *twins], ignore_index=True))
    figures.tradeoff_figure(selected, "titanic-sex", "paper", tmp_path, counts={})
    fig = captured[0]
    text = _texts(fig)
    assert "ERM (n=3) ‡ 3/3 degenerate" in text and "never on the front" in text
    assert "LtR (n=3) = FORML (n=3) = NBS+LtR (n=3)" in text and "side by side" not in text
    ax = fig.axes[0]
    front = [c for c in ax.collections if c.get_label().startswith("Pareto front")][0]
    points = {tuple(np.round(p, 6)) for p in front.get_offsets()}
    assert (0.0, 0.5) not in points and len(points) == 1  # ERM's (gap 0, AUC 0.5) is not on the front
    means = [c for c in ax.collections if c.get_label().startswith(("LtR", "FORML", "NBS+LtR"))]
    assert len(means) == 1  # one marker for the tie, not three moved apart


def test_a_crowded_tradeoff_is_split_into_panels_with_per_method_n(tmp_path: Path, captured: list[Figure]) -> None:
    from fairbench import registry

    methods = ["erm", "dro", "group_dro", "reweighing", *registry.OBJECTIVES,
               *(f"{agg}_{obj}" for agg in ("nbs", "mgda", "pcgrad") for obj in registry.OBJECTIVES)][:16]
    assert set(methods) <= set(registry.available_methods())
    write_grid(tmp_path, settings=["titanic-sex"], methods=methods, protocols=["standard"], seeds=range(2),
               epochs=4, bargain_epochs=2)
    write_grid(tmp_path, settings=["titanic-sex"], methods=["erm"], protocols=["standard"], seeds=range(2, 5),
               epochs=4, bargain_epochs=2)
    selected = select_epochs(collect_runs(tmp_path))
    figures.tradeoff_figure(selected, "titanic-sex", "standard", tmp_path, counts={})
    fig = captured[0]
    panels = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(panels) >= 3
    for ax in panels:
        drawn = [label for label in ax.get_legend_handles_labels()[1] if "(n=" in label]
        assert 0 < len(drawn) <= figures.PANEL_METHODS
    text = _texts(fig)
    assert "ERM (n=5)" in text and "LtR (n=2)" in text  # each method's own n, not the largest


def test_alignment_figure_draws_the_applied_rate_and_names_coinciding_variants(tmp_path: Path,
                                                                             captured: list[Figure]) -> None:
    write_grid(tmp_path, settings=["adult-sex"], methods=["ltr", "forml", "meta_gdro", "nbs_ltr", "nbs_forml",
                                                          "nbs_meta_gdro"],
               protocols=["standard"], seeds=range(2), epochs=6, bargain_epochs=3)
    frame = collect_runs(tmp_path)
    assert figures.nbs_stage1_identical(frame) is None
    figures.alignment_figure(frame, "adult-sex", "standard", tmp_path)
    assert "identical through stage 1" not in _texts(captured[-1])
    titles = [ax.get_title() for ax in captured[-1].axes]
    assert titles == [figures.ALIGNMENT_PANELS["alignment_rate"], figures.ALIGNMENT_PANELS["applied_alignment_rate"]]
    # the three variants identical in their 3 stage-1 epochs, as when bargaining ignores the objective
    frame = frame.copy()
    base = frame[frame["method"] == "nbs_ltr"].set_index(["seed", "epoch"])
    stage1 = frame["method"].isin(["nbs_forml", "nbs_meta_gdro"]) & (frame["epoch"] <= 3)
    for column in STAGE1_COLUMNS:
        frame.loc[stage1, column] = [base.loc[(s, e), column] for s, e in frame.loc[stage1, ["seed", "epoch"]].values]
    assert figures.nbs_stage1_identical(frame) == (3, 3)
    figures.alignment_figure(frame, "adult-sex", "standard", tmp_path)
    assert "NBS+LtR, NBS+FORML, NBS+Meta-gDRO are identical through stage 1 (epochs 1-3)" in _texts(captured[-1])
    diverged = frame.copy()  # the variants part at epoch 3 (a solver failure and a different fallback)
    diverged.loc[(diverged["method"] == "nbs_forml") & (diverged["epoch"] == 3) & (diverged["seed"] == 1),
                 "train_loss"] += 0.01
    assert figures.nbs_stage1_identical(diverged) == (2, 3)
    figures.curves_figure(diverged, "adult-sex", "standard", tmp_path)
    assert "identical through epoch 2 of the 3 stage-1 epochs" in _texts(captured[-1])


def test_alignment_and_ablation_figures_name_degenerate_seeds(tmp_path: Path, captured: list[Figure]) -> None:
    write_grid(tmp_path, settings=["adult-sex"], methods=["ltr", "nbs_ltr"], protocols=["standard"], seeds=range(3),
               epochs=6, bargain_epochs=3)
    for T in (0, 6):
        write_grid(tmp_path, settings=["adult-sex"], methods=["nbs_ltr"], protocols=["standard"], seeds=range(3),
                   epochs=6, bargain_epochs=T, experiment_dir="ablation_T")
    frame = collect_runs(tmp_path)
    flagged = figures.flag_degenerate(select_epochs(frame), {})
    assert not flagged["degenerate"].any()
    figures.alignment_figure(frame, "adult-sex", "standard", tmp_path, flagged=flagged)
    assert "‡" not in _texts(captured[-1])
    hit = (flagged["method"] == "ltr") & (flagged["seed"] == 0) & (flagged["experiment"] == "main")
    flagged.loc[hit, ["degenerate", "degenerate_reason"]] = (True, "constant")
    figures.alignment_figure(frame, "adult-sex", "standard", tmp_path, flagged=flagged)
    assert "LtR ‡ 1/3 degenerate" in _texts(captured[-1])
    hit = (flagged["method"] == "nbs_ltr") & (flagged["bargain_epochs"] == 0)
    flagged.loc[hit, ["degenerate", "degenerate_reason"]] = (True, "chance")
    figures.ablation_figure(flagged, "adult-sex", "standard", tmp_path, kind="T")
    assert "NBS+LtR ‡ 3/9 degenerate" in _texts(captured[-1])
