"""The bargaining ablation on the findings page (claims 7-12; fairbench.reports.bargaining): its method triples
from the registry, a planted difference recovered with its sign, size and t-interval, a planted null never
"supported", the shared-test-set rule by protocol, what the page says without the runs, and the
insufficient-evidence verdict on one seed."""

from __future__ import annotations

import dataclasses

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairbench import registry
from fairbench.reports.claims import ABLATION_CLAIMS, ClaimResult, contrast_pairs, measure_claims
from fairbench.reports.collect import collect_runs
from fairbench.reports.findings import build_findings, write_findings
from fairbench.reports.inference import equivalent
from fairbench.reports.selection import select_epochs
from fairbench.reports.verdicts import claim_family, judge
from tests.test_reports_evidence_fixtures import write_predicted_run

ROLES = ("one_stage", "hypergradient", "training_gradient")
#: Claim numbers by (contrast, metric).
CLAIM = {key: number for number, key in ABLATION_CLAIMS.items()}
#: Relative tolerance of float64 means of a few dozen terms.
RTOL = 1e3 * np.finfo(np.float64).eps


# -- the triples come from the registry ----------------------------------------------------------------------------

def test_triples_come_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    triples = registry.bargaining_triples()
    assert [t.objective for t in triples] == list(registry.OBJECTIVES)
    methods = set(registry.available_methods())
    for t in triples:
        assert registry.nbs_pairs()[t.hypergradient] == t.one_stage
        assert {t.one_stage, t.hypergradient, t.training_gradient} <= methods
        assert registry._split_name(t.training_gradient) == (registry.TRAINING_GRADIENT_BARGAINING, t.objective)
    assert contrast_pairs("NBS - Nash-MTL") == {t.hypergradient: t.training_gradient for t in triples}
    assert contrast_pairs("Nash-MTL - one-stage") == {t.training_gradient: t.one_stage for t in triples}
    # read at call time: an objective registered later gets its triple
    monkeypatch.setitem(registry.OBJECTIVES, "mix_worst", registry.OBJECTIVES["ltr"])
    assert registry.bargaining_triples()[-1] == ("mix_worst", "mix_worst", "nbs_mix_worst", "nash_mtl_mix_worst")


# -- planted effects on a synthetic selection (standard protocol: seed variance only) -------------------------------

def _selected(auc: dict[str, np.ndarray | float], gap: dict[str, np.ndarray | float], *, seeds: int = 5,
              settings: tuple[str, ...] = ("a", "b"), noise: float = 0.01) -> pd.DataFrame:
    """Every triple's three methods per (setting, seed): a seed-level base plus each role's planted offset
    (per seed, or one value) plus independent noise."""
    rng = np.random.default_rng(11)
    rows = []
    for setting in settings:
        for seed in range(seeds):
            base = 0.7 + 0.005 * rng.standard_normal()
            for t in registry.bargaining_triples():
                for role in ROLES:
                    method = getattr(t, role)
                    a = base + np.broadcast_to(auc[role], (seeds,))[seed] + noise * rng.standard_normal()
                    g = 0.2 + np.broadcast_to(gap[role], (seeds,))[seed] + noise * rng.standard_normal()
                    rows.append({"run_dir": f"{setting}/{method}/{seed}", "protocol": "standard", "setting": setting,
                                 "method": method, "seed": seed, "degenerate": False, "auc": a,
                                 "group_auc_gap": g, "worst_group_auc": a - g / 2})
    return pd.DataFrame(rows)


def _measure(selected: pd.DataFrame, statistic: str = "diff") -> dict[int, ClaimResult]:
    stage1 = pd.DataFrame(columns=["run_dir", "protocol", "setting", "method", "seed"])
    return measure_claims(selected, stage1, {}, statistic=statistic)


def _direct(selected: pd.DataFrame, contrast: str, metric: str) -> tuple[float, float, float]:
    """The pooled paired difference by hand: per setting the t-statistics of the per-seed mean over the
    objectives, pooled as the mean over settings with Welch-Satterthwaite degrees of freedom; with scipy's
    t quantile, the 95 % interval."""
    wide = selected.pivot_table(index=["setting", "seed"], columns="method", values=metric)
    diffs = pd.concat([wide[a] - wide[b] for a, b in contrast_pairs(contrast).items()], axis=1).mean(axis=1)
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


@pytest.mark.parametrize("statistic", ["diff", "poi"])
def test_a_planted_difference_is_recovered_with_its_sign_size_and_interval(statistic: str) -> None:
    auc = {"one_stage": 0.0, "training_gradient": 0.02, "hypergradient": 0.07}  # NBS - Nash-MTL = +0.05
    gap = {"one_stage": 0.0, "training_gradient": -0.03, "hypergradient": -0.06}  # -0.03 each
    selected = _selected(auc, gap)
    results = _measure(selected, statistic)
    verdicts = judge({("standard", n): r for n, r in results.items()})
    planted = {("NBS - Nash-MTL", "auc"): 0.05, ("NBS - Nash-MTL", "group_auc_gap"): -0.03,
               ("Nash-MTL - one-stage", "auc"): 0.02, ("Nash-MTL - one-stage", "group_auc_gap"): -0.03}
    for (contrast, metric), truth in planted.items():
        r = results[CLAIM[(contrast, metric)]]
        point, low, high = _direct(selected, contrast, metric)
        assert r.effect.point == pytest.approx(point, rel=RTOL)
        assert r.effect.interval() == pytest.approx((low, high), rel=RTOL)
        assert low <= r.effect.point <= high and low < truth < high  # the interval holds its estimate and the truth
        assert np.sign(r.effect.point) == np.sign(truth) and abs(r.effect.point - truth) < 0.01
        assert r.seeds == [5, 5] and len(r.per_setting) == 2
        assert verdicts[("standard", CLAIM[(contrast, metric)])].verdict == "supported"
        plow, phigh = r.interval()
        assert plow <= r.primary.point <= phigh


def test_a_planted_null_is_equivalent_or_inconclusive_never_supported() -> None:
    # per seed NBS - Nash-MTL = +d, -d, +d/2, -d/2, 0 in every setting and objective: a mean of exactly zero
    d = 0.004
    null = 0.02 + d * np.array([1.0, -1.0, 0.5, -0.5, 0.0])
    auc = {"one_stage": 0.0, "training_gradient": 0.02, "hypergradient": null}
    gap = {"one_stage": 0.0, "training_gradient": 0.0, "hypergradient": 0.0}
    selected = _selected(auc, gap, noise=0.0)
    for statistic in ("diff", "poi"):
        results = _measure(selected, statistic)
        verdicts = judge({("standard", n): r for n, r in results.items()})
        for metric in ("auc", "group_auc_gap"):
            number = CLAIM[("NBS - Nash-MTL", metric)]
            r = results[number]
            assert abs(r.effect.point) < 1e-12
            assert equivalent(r.effect, 0.01) is True  # no effect larger than the page's AUC margin
            assert verdicts[("standard", number)].verdict == "inconclusive", (statistic, metric)


def test_one_seed_gives_insufficient_evidence() -> None:
    selected = _selected({"one_stage": 0.0, "training_gradient": 0.0, "hypergradient": 0.2},
                         {"one_stage": 0.0, "training_gradient": 0.0, "hypergradient": -0.1}, seeds=1)
    results = _measure(selected)
    verdicts = judge({("standard", n): r for n, r in results.items()})
    assert {verdicts[("standard", n)].verdict for n in ABLATION_CLAIMS} == {"insufficient evidence"}
    assert "below the minimum of 5" in verdicts[("standard", min(ABLATION_CLAIMS))].why


# -- the page, from run records --------------------------------------------------------------------------------------

def _runs(root: Path, methods: dict[str, float], *, seeds: range = range(5),
          protocols: tuple[str, ...] = ("paper", "standard")) -> Path:
    """Predicted runs of the workflow's layout: the Nash-MTL variants in the ``bargaining`` experiment, the rest
    in ``main``; the paper protocol shares one test set, the standard protocol gives each seed its own."""
    nash = {t.training_gradient for t in registry.bargaining_triples()}
    for protocol in protocols:
        for seed in seeds:
            for method, accuracy in methods.items():
                path = write_predicted_run(root, method=method, seed=seed, protocol=protocol, epochs=5,
                                           bargain_epochs=4, accuracy=accuracy,
                                           experiment_dir="bargaining" if method in nash else "main")
                record = json.loads(path.read_text())
                record["data"].update({"n_test": 36, "split": "paper" if protocol == "paper" else f"seed{seed}"})
                path.write_text(json.dumps(record))
    return root


PLANTED = {"ltr": 0.75, "nbs_ltr": 0.92, "nash_mtl_ltr": 0.75}


@pytest.fixture(scope="module")
def ablation_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _runs(tmp_path_factory.mktemp("ablation"), PLANTED)


@pytest.fixture(scope="module")
def page(ablation_root: Path) -> tuple[str, pd.DataFrame]:
    return build_findings(collect_runs(ablation_root), n_boot=200, robustness=False)[:2]


def _paired(root: Path, protocol: str, metric: str) -> np.ndarray:
    selected = select_epochs(collect_runs(root))
    sub = selected[selected["protocol"] == protocol].set_index(["method", "seed"])[metric]
    return np.array([sub[("nbs_ltr", s)] - sub[("nash_mtl_ltr", s)] for s in range(5)])


def test_page_states_the_ablation_with_intervals(ablation_root: Path, page: tuple[str, pd.DataFrame]) -> None:
    text, data = page
    claims = data.set_index(["number", "protocol"])
    assert set(ABLATION_CLAIMS) <= set(data["number"])
    assert "Experiments: main, bargaining" in text
    assert "## The bargaining ablation: hypergradients (NBS) vs training-loss gradients (Nash-MTL)" in text
    number = CLAIM[("NBS - Nash-MTL", "auc")]
    # standard protocol, each seed its own test set: exactly the t-interval of the seed-paired differences
    diffs = _paired(ablation_root, "standard", "auc")
    row = claims.loc[(number, "standard")]
    ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert row["effect"] == pytest.approx(diffs.mean(), rel=RTOL) and row["effect"] > 0.05
    assert (row["effect_low"], row["effect_high"]) == pytest.approx((ci.low, ci.high), rel=RTOL)
    # paper protocol, one shared test set: its variance is added, so the interval is wider than the seeds'
    diffs = _paired(ablation_root, "paper", "auc")
    row = claims.loc[(number, "paper")]
    seeds_only = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert row["effect"] == pytest.approx(diffs.mean(), rel=RTOL)
    assert row["effect_high"] - row["effect_low"] > 1.05 * (seeds_only.high - seeds_only.low)
    for r in data[data["number"].isin(list(ABLATION_CLAIMS))].itertuples():
        assert r.effect_low <= r.effect <= r.effect_high and r.ci_low <= r.value <= r.ci_high
        assert np.isfinite(r.mde) and r.margin > 0 and r.verdict in {"supported", "contradicted", "inconclusive"}
    assert "| Titanic (sex) | " in text and "(n=5)" in text
    # the objectives without runs are named, not silently dropped
    assert "the bargaining ablation leaves out, for lack of runs: FORML: FORML (forml)" in text


def test_written_table_beside_the_page(ablation_root: Path, tmp_path: Path, page: tuple[str, pd.DataFrame]) -> None:
    paths = write_findings(collect_runs(ablation_root), tmp_path / "FINDINGS.md", n_boot=100,
                           data_out=tmp_path / "aggregate" / "findings.csv")
    table = pd.read_csv(tmp_path / "aggregate" / "findings_bargaining.csv")
    assert tmp_path / "aggregate" / "findings_bargaining.csv" in paths
    pooled = table[table["setting"] == "pooled"].set_index(["claim", "protocol"])
    data = pd.read_csv(tmp_path / "aggregate" / "findings.csv").set_index(["number", "protocol"])
    assert len(pooled) == 2 * len(ABLATION_CLAIMS) and len(table) == 2 * len(pooled)  # one setting
    for (number, protocol), row in pooled.iterrows():
        assert row["effect"] == pytest.approx(data.loc[(number, protocol), "effect"], rel=1e-5)  # %.6g in the CSVs
        assert row["verdict"] == data.loc[(number, protocol), "verdict"]
        assert row["verdict_diff"] in {"supported", "contradicted", "inconclusive", "insufficient evidence"}
    assert (table["ci_low"] <= table["effect"]).all() and (table["effect"] <= table["ci_high"]).all()


def test_without_the_nash_mtl_runs_the_page_says_what_it_needs(tmp_path: Path) -> None:
    _runs(tmp_path, {"ltr": 0.75, "nbs_ltr": 0.92}, protocols=("paper",))
    text, data, _ = build_findings(collect_runs(tmp_path), n_boot=100, robustness=False)
    assert not set(ABLATION_CLAIMS) & set(data["number"])
    assert "the bargaining ablation (claims 7-12) needs, for an objective, its runs without bargaining, with NBS " \
           "and with Nash-MTL" in text
    assert "these runs lack LtR: Nash-MTL+LtR (nash_mtl_ltr);" in text
    assert "Not measured: the bargaining ablation" in text


def test_one_seed_page_reads_insufficient_evidence(tmp_path: Path) -> None:
    _runs(tmp_path, PLANTED, seeds=range(1), protocols=("paper",))
    _, data, _ = build_findings(collect_runs(tmp_path), n_boot=100, robustness=False)
    assert set(data.loc[data["number"].isin(list(ABLATION_CLAIMS)), "verdict"]) == {"insufficient evidence"}


def test_the_ablation_is_its_own_holm_family_and_leaves_the_papers_verdicts_alone() -> None:
    selected = _selected({"one_stage": 0.0, "training_gradient": 0.02, "hypergradient": 0.07},
                         {"one_stage": 0.0, "training_gradient": -0.03, "hypergradient": -0.06})
    ablation = {("standard", n): r for n, r in _measure(selected, "diff").items() if n in ABLATION_CLAIMS}
    paper_claim = next(iter(ablation.values()))
    # a stand-in for a paper claim: claim 1 with the same numbers as an ablation claim
    paper = {("standard", 1): dataclasses.replace(paper_claim, number=1)}
    alone, together = judge(paper), judge({**paper, **ablation})
    assert together[("standard", 1)].p_claim == alone[("standard", 1)].p_claim
    assert {claim_family(k) for k in ablation} == {"bargaining ablation"} and claim_family(("paper", 6)) == "paper"
