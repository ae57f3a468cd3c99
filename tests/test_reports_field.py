"""NBS against the fairness literature's baselines on the findings page (fairbench.reports.field): the baselines
come from the registry, a planted difference is recovered with its sign, size and t-interval, a planted null
reads "within noise", a degenerate baseline never looks fairest, the lambda sweep's chosen point is the one
compared, missing baselines give the page's "needs ... lacks" line, the per-setting table is written beside
the page, and the section leaves the verdicts of claims 1-12 as they are."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairbench import registry
from fairbench.reports.collect import collect_runs
from fairbench.reports.field import BETTER, DEPENDS, FIELD_METRICS, INSUFFICIENT, NOISE, NOT_AFTER_HOLM, POOLED, \
    WORSE, field_frame
from fairbench.reports.findings import _build, build_findings, write_findings
from fairbench.reports.labels import NBS_PAIRS
from fairbench.reports.selection import select_epochs
from tests.test_reports_evidence_fixtures import write_predicted_run

#: Relative tolerance of float64 means of a few dozen terms.
RTOL = 1e3 * np.finfo(np.float64).eps


def test_the_literature_baselines_come_from_the_registry() -> None:
    baselines = registry.literature_baselines()
    assert baselines == [*registry.FAIRNESS_REGULARISERS, *registry.STANDALONE_BARGAINS]
    assert set(baselines) <= set(registry.BASELINES) and not set(baselines) & set(NBS_PAIRS)


# -- planted effects on a synthetic selection (standard protocol: seed variance only) -------------------------------

def _selected(auc: dict[str, float | np.ndarray], gap: dict[str, float | np.ndarray], *, seeds: int = 5,
              settings: tuple[str, ...] = ("a", "b"), noise: float = 0.01,
              degenerate: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Every NBS variant and literature baseline per (setting, seed): a seed-level base plus the method's planted
    offset (``"nbs"`` for every NBS variant, else by name, per seed or one value; 0 when absent) plus noise.
    ``degenerate[method]``: per seed, whether that run is a degenerate one (AUC 0.5, gap 0)."""
    rng = np.random.default_rng(7)
    rows = []
    for setting in settings:
        for seed in range(seeds):
            base = 0.7 + 0.005 * rng.standard_normal()
            for method in [*NBS_PAIRS, *registry.literature_baselines()]:
                key = "nbs" if method in NBS_PAIRS else method
                a = base + np.broadcast_to(auc.get(key, 0.0), (seeds,))[seed] + noise * rng.standard_normal()
                g = 0.2 + np.broadcast_to(gap.get(key, 0.0), (seeds,))[seed] + noise * rng.standard_normal()
                broken = bool((degenerate or {}).get(method, np.zeros(seeds, bool))[seed])
                a, g = (0.5, 0.0) if broken else (a, g)
                rows.append({"run_dir": f"{setting}/{method}/{seed}", "protocol": "standard", "setting": setting,
                             "method": method, "seed": seed, "degenerate": broken, "auc": a, "group_auc_gap": g,
                             "worst_group_auc": a - g / 2, "fair_lambda": 0.3})
    return pd.DataFrame(rows)


def _pooled(frame: pd.DataFrame, baseline: str, metric: str) -> pd.Series:
    return frame[(frame["setting"] == POOLED) & (frame["baseline"] == baseline)
                 & (frame["metric"] == metric)].iloc[0]


def _direct(selected: pd.DataFrame, baseline: str, metric: str) -> tuple[float, float, float]:
    """By hand: per seed the mean over the NBS variants minus the baseline; per setting the t-statistics of the
    seed mean, pooled as the mean over settings with Welch-Satterthwaite degrees of freedom, scipy's t quantile."""
    wide = selected.pivot_table(index=["setting", "seed"], columns="method", values=metric)
    diffs = wide[list(NBS_PAIRS)].mean(axis=1) - wide[baseline]
    means, ses, dfs = [], [], []
    for _, d in diffs.groupby(level="setting"):
        means.append(d.mean())
        ses.append(stats.sem(d))
        dfs.append(len(d) - 1)
    ses, dfs = np.array(ses), np.array(dfs)
    se = np.sqrt(np.sum(ses ** 2)) / len(means)
    df = np.sum(ses ** 2) ** 2 / np.sum(ses ** 4 / dfs)
    low, high = stats.t.interval(0.95, df, loc=np.mean(means), scale=se)
    return float(np.mean(means)), float(low), float(high)


def test_a_planted_difference_is_recovered_with_its_sign_size_and_interval() -> None:
    # NBS +0.05 AUC over DiffDP, 0.03 less disparity than FairGrad; Nash-MTL as good as NBS
    auc = {"nbs": 0.05, "nash_mtl": 0.05}
    gap = {"fairgrad": 0.03}
    selected = _selected(auc, gap)
    frame = field_frame(selected, {}, ["standard"], n_boot=100, seed=0)
    planted = {("diffdp", "auc"): (0.05, BETTER), ("fairgrad", "group_auc_gap"): (-0.03, BETTER)}
    for (baseline, metric), (truth, verdict) in planted.items():
        row = _pooled(frame, baseline, metric)
        point, low, high = _direct(selected, baseline, metric)
        assert row["effect"] == pytest.approx(point, rel=RTOL)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=RTOL)
        assert low <= row["effect"] <= high and low < truth < high  # the interval holds its estimate and the truth
        assert np.sign(row["effect"]) == np.sign(truth) and abs(row["effect"] - truth) < 0.01
        assert row["verdict"] == verdict and row["p_holm"] < 0.05 and row["seeds"] == 5
        assert np.isfinite(row["mde"]) and row["mde"] > 0
    # worst-group AUC (a - g/2): NBS's +0.05 AUC and FairGrad's 0.03 more disparity give +0.065; Nash-MTL ties
    assert _pooled(frame, "fairgrad", "worst_group_auc")["effect"] == pytest.approx(0.065, abs=0.01)
    assert _pooled(frame, "nash_mtl", "auc")["verdict"] in {NOISE, NOT_AFTER_HOLM}  # no difference shown
    per_setting = frame[(frame["baseline"] == "diffdp") & (frame["metric"] == "auc") & (frame["setting"] != POOLED)]
    assert list(per_setting["setting"]) == ["a", "b"] and (per_setting["verdict"] == "").all()
    assert (per_setting["ci_low"] <= per_setting["effect"]).all()
    assert (per_setting["effect"] <= per_setting["ci_high"]).all()
    # every baseline and metric has its row, each with a Holm p over the whole section's family
    pooled = frame[frame["setting"] == POOLED]
    assert len(pooled) == len(registry.literature_baselines()) * len(FIELD_METRICS)


def test_a_planted_null_is_within_noise_and_equivalent() -> None:
    # per seed NBS - DiffEopp = +d, -d, +d/2, -d/2, 0 in every setting: a mean of exactly zero
    d = 0.004
    selected = _selected({"nbs": d * np.array([1.0, -1.0, 0.5, -0.5, 0.0])}, {}, noise=0.0)
    frame = field_frame(selected, {}, ["standard"], n_boot=100, seed=0)
    row = _pooled(frame, "diffeopp", "auc")
    assert abs(row["effect"]) < 1e-12 and row["ci_low"] < 0 < row["ci_high"]
    assert row["verdict"] == NOISE and bool(row["equivalent"])  # no effect larger than the page's 0.01 AUC
    assert row["p_holm"] == pytest.approx(1.0)


def test_a_degenerate_baseline_never_looks_fairest() -> None:
    # Adv. debiasing collapses to a constant predictor (AUC 0.5, gap 0) on half its seeds; elsewhere it equals NBS
    seeds = 10
    broken = np.arange(seeds) % 2 == 0
    selected = _selected({}, {}, seeds=seeds, noise=0.001, degenerate={"adv_debias": broken})
    frame = field_frame(selected, {}, ["standard"], n_boot=100, seed=0)
    gap = _pooled(frame, "adv_debias", "group_auc_gap")
    assert gap["verdict_all_runs"] == WORSE  # with its degenerate runs, Adv. debiasing would look fairer ...
    assert gap["verdict_without_degenerate"] == NOISE  # ... which it is not
    assert gap["verdict"] == DEPENDS and gap["degenerate_baseline"] == f"{broken.sum() * 2}/{seeds * 2}"
    # a comparison without degenerate runs keeps its verdict
    assert _pooled(frame, "diffdp", "group_auc_gap")["verdict"] == NOISE


def test_one_seed_gives_insufficient_evidence() -> None:
    frame = field_frame(_selected({"nbs": 0.2}, {}, seeds=1), {}, ["standard"], n_boot=100, seed=0)
    assert set(frame.loc[frame["setting"] == POOLED, "verdict"]) == {INSUFFICIENT}


# -- the page, from run records ---------------------------------------------------------------------------------------

#: lambda -> (experiment, validation worst-group AUC, test accuracy): 1 is the validation-best point, 0.1 (the first
#: experiment) the test-best.
SWEEP = {0.1: ("fair_lambda_0p1", 0.60, 0.98), 1.0: ("fair_lambda_1", 0.80, 0.65)}
CHOSEN, OTHER = 1.0, 0.1
NBS_ACCURACY = 0.85
N_CELL = 100
EPOCHS = 4


def _write(root: Path, method: str, seed: int, protocol: str, accuracy: float, experiment: str, **kw: object) -> None:
    path = write_predicted_run(root, method=method, seed=seed, protocol=protocol, epochs=EPOCHS, bargain_epochs=3,
                               n_cell=N_CELL, accuracy=accuracy, experiment_dir=experiment, **kw)
    record = json.loads(path.read_text())
    record["data"].update({"n_test": 4 * N_CELL, "split": "paper" if protocol == "paper" else f"seed{seed}"})
    path.write_text(json.dumps(record))


def _runs(root: Path, *, baselines: bool = True, seeds: range = range(5)) -> Path:
    """``main``: LtR and NBS+LtR; the DiffDP sweep's two points; Nash-MTL and FairGrad in ``bargaining``."""
    for protocol in ("paper", "standard"):
        for seed in seeds:
            _write(root, "ltr", seed, protocol, 0.80, "main")
            _write(root, "nbs_ltr", seed, protocol, NBS_ACCURACY, "main")
            if not baselines:
                continue
            for lam, (experiment, val, accuracy) in SWEEP.items():
                _write(root, "diffdp", seed, protocol, accuracy, experiment, fair_lambda=lam,
                       extra={"val_worst_group_auc": [val] * EPOCHS})
            for method in registry.STANDALONE_BARGAINS:
                _write(root, method, seed, protocol, 0.80, "bargaining")
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _runs(tmp_path_factory.mktemp("field"))


@pytest.fixture(scope="module")
def built(root: Path) -> tuple:
    return _build(collect_runs(root), n_boot=100, seed=0, robustness=False)


def test_the_sweeps_chosen_lambda_is_the_one_compared(root: Path, built: tuple) -> None:
    text, field = built[0], built[4]
    selected = select_epochs(collect_runs(root))
    sub = selected[selected["protocol"] == "standard"].set_index(["method", "fair_lambda", "seed"])["auc"]
    runs = collect_runs(root)
    lam_of = runs.drop_duplicates("run_dir").set_index("run_dir")["fair_lambda"]
    assert set(lam_of[runs.drop_duplicates("run_dir").set_index("run_dir")["method"] == "diffdp"]) == set(SWEEP)
    nbs = selected[(selected["protocol"] == "standard") & (selected["method"] == "nbs_ltr")].set_index("seed")["auc"]
    chosen = np.array([nbs[s] - sub[("diffdp", CHOSEN, s)] for s in range(5)])
    other = np.array([nbs[s] - sub[("diffdp", OTHER, s)] for s in range(5)])
    assert chosen.mean() > 0 > other.mean()  # the points differ: the wrong one would flip the sign
    row = field[(field["protocol"] == "standard") & (field["baseline"] == "diffdp") & (field["metric"] == "auc")]
    pooled = row[row["setting"] == POOLED].iloc[0]
    ci = stats.ttest_1samp(chosen, 0.0).confidence_interval(0.95)
    assert pooled["effect"] == pytest.approx(chosen.mean(), rel=RTOL)
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((ci.low, ci.high), rel=RTOL)
    assert pooled["verdict"] == BETTER
    assert set(row.loc[row["setting"] != POOLED, "fair_lambda"]) == {CHOSEN}
    assert "## NBS against the fairness literature's baselines" in text
    assert "| Titanic (sex) | 1 |" in text  # the chosen lambda per setting on the page
    assert "Experiments: main, bargaining, fair_lambda_0p1, fair_lambda_1." in text


def test_paper_protocol_adds_the_shared_test_sets_variance(root: Path, built: tuple) -> None:
    field = built[4]
    selected = select_epochs(collect_runs(root))
    paper = selected[selected["protocol"] == "paper"]
    pooled = field[(field["protocol"] == "paper") & (field["baseline"] == "fairgrad") & (field["metric"] == "auc")
                   & (field["setting"] == POOLED)].iloc[0]
    nbs = paper[paper["method"] == "nbs_ltr"].set_index("seed")["auc"]
    base = paper[paper["method"] == "fairgrad"].set_index("seed")["auc"]
    diffs = (nbs - base).to_numpy()
    seeds_only = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert pooled["effect"] == pytest.approx(diffs.mean(), rel=RTOL)
    assert pooled["ci_high"] - pooled["ci_low"] > 1.05 * (seeds_only.high - seeds_only.low)


def test_the_per_setting_table_is_written_beside_the_page(root: Path, tmp_path: Path) -> None:
    paths = write_findings(collect_runs(root), tmp_path / "FINDINGS.md", n_boot=100,
                           data_out=tmp_path / "aggregate" / "findings.csv")
    path = tmp_path / "aggregate" / "findings_field.csv"
    assert path in paths
    table = pd.read_csv(path)
    pooled = table[table["setting"] == POOLED]
    assert set(pooled["baseline"]) == {"diffdp", *registry.STANDALONE_BARGAINS}
    assert len(pooled) == 2 * 3 * len(FIELD_METRICS) and len(table) == 2 * len(pooled)  # one setting
    assert (table["ci_low"] <= table["effect"]).all() and (table["effect"] <= table["ci_high"]).all()
    assert set(table.loc[(table["baseline"] == "diffdp") & (table["setting"] != POOLED), "fair_lambda"]) == {CHOSEN}


def test_without_the_baselines_the_page_says_what_it_needs(tmp_path: Path) -> None:
    _runs(tmp_path, baselines=False)
    text, _, _ = build_findings(collect_runs(tmp_path), n_boot=100, robustness=False)
    assert ("the comparison of NBS with the fairness literature's baselines needs an NBS variant and a baseline run "
            "in one setting") in text
    assert "these runs lack DiffDP (diffdp), DiffEopp (diffeopp)" in text and "FairGrad (fairgrad)." in text
    assert "Not measured: the comparison of NBS" in text


def test_some_baselines_missing_are_named(built: tuple) -> None:
    text = built[0]
    assert ("the comparison with the fairness literature's baselines leaves out, for lack of runs: DiffEopp "
            "(diffeopp), DiffEodd (diffeodd), Adv. debiasing (adv_debias)") in text


def test_the_papers_verdicts_do_not_change(root: Path, built: tuple, tmp_path: Path) -> None:
    frame = collect_runs(root)
    without = frame[~frame["method"].isin(registry.literature_baselines())]
    text_with, data_with, robust_with = build_findings(frame, n_boot=100)
    text_without, data_without, robust_without = build_findings(without, n_boot=100)
    assert "## NBS against the fairness literature's baselines" in text_with
    assert not data_with.empty and set(data_with["number"]) == set(data_without["number"])
    pd.testing.assert_frame_equal(data_with, data_without)
    pd.testing.assert_frame_equal(robust_with.reset_index(drop=True), robust_without.reset_index(drop=True))
