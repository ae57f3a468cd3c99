"""FINDINGS.md from a small fixture, its numbers checked against a direct computation
(fairbench.reports.findings, ``fairbench report findings``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairbench.cli import main
from fairbench.reports.collect import collect_runs
from fairbench.reports.findings import VERDICT_RULE, build_findings
from fairbench.reports.selection import select_epochs
from tests.test_reports_evidence_fixtures import write_predicted_run

PAIRS = {"nbs_ltr": "ltr", "nbs_forml": "forml", "nbs_meta_gdro": "meta_gdro"}
SEEDS = range(5)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for protocol in ("paper", "standard"):
        for seed in SEEDS:
            for method in ("erm", *PAIRS, *PAIRS.values()):
                accuracy = 0.92 if method.startswith("nbs_") else 0.75
                path = write_predicted_run(root, method=method, seed=seed, protocol=protocol, epochs=5,
                                           bargain_epochs=4, accuracy=accuracy)
                record = json.loads(path.read_text())
                record["data"].update({"n_test": 36, "split": "paper" if protocol == "paper" else f"seed{seed}"})
                path.write_text(json.dumps(record))
    return root


@pytest.fixture(scope="module")
def findings(root: Path) -> tuple[str, pd.DataFrame]:
    return build_findings(collect_runs(root), n_boot=200)[:2]


def _direct_poi(selected: pd.DataFrame, protocol: str, metric: str, higher: bool) -> float:
    """Agarwal et al.'s P(X > Y) by a double loop, averaged over the three pairs (one setting)."""
    values = []
    sub = selected[selected["protocol"] == protocol]
    for nbs, base in PAIRS.items():
        x = sub[sub["method"] == nbs][metric].to_numpy()
        y = sub[sub["method"] == base][metric].to_numpy()
        # ties within the stated tolerance (1e-9), as the page says
        score = [0.5 if abs(a - b) <= 1e-9 else float(a > b if higher else a < b) for a in x for b in y]
        values.append(np.mean(score))
    return float(np.mean(values))


def test_claim_numbers_match_a_direct_computation(root: Path, findings: tuple[str, pd.DataFrame]) -> None:
    _, data = findings
    claims = data.set_index(["number", "protocol"])
    selected = select_epochs(collect_runs(root))
    for protocol in ("paper", "standard"):
        assert claims.loc[(1, protocol), "value"] == pytest.approx(_direct_poi(selected, protocol, "auc", True))
        assert claims.loc[(2, protocol), "value"] == pytest.approx(
            _direct_poi(selected, protocol, "group_auc_gap", False))
    # claim 3: stage-1 applied alignment, NBS minus one-stage, read straight from metrics.csv
    diffs = []
    for nbs, base in PAIRS.items():
        for seed in SEEDS:
            folder = root / "main" / "paper" / "titanic-sex"

            def stage1_mean(method: str) -> float:
                frame = pd.read_csv(folder / method / "T4-k3" / f"seed{seed}" / "metrics.csv")
                return float(frame[frame["epoch"] <= 3]["applied_alignment_rate"].mean())  # paper: T - 1 epochs

            diffs.append(stage1_mean(nbs) - stage1_mean(base))
    assert claims.loc[(3, "paper"), "effect"] == pytest.approx(np.mean(diffs))
    assert claims.loc[(1, "paper"), "verdict"] == "supported"  # NBS predicts far better in the fixture
    low, high = claims.loc[(1, "paper"), ["ci_low", "ci_high"]]
    assert 0.5 < low <= claims.loc[(1, "paper"), "value"] <= high <= 1.0
    assert set(data["verdict"]) <= {"supported", "contradicted", "inconclusive", "insufficient evidence"}
    assert set(claims.index.get_level_values(0)) == {1, 2, 3, 4, 5, 6}


def test_page_states_rule_selection_and_weak_evidence(findings: tuple[str, pd.DataFrame]) -> None:
    text, data = findings
    assert VERDICT_RULE in text and "Holm" in text
    assert "selected on the test set, so optimistic" in text and "lowest validation meta loss" in text
    assert "Titanic (sex), paper protocol: 36 test rows" in text
    assert "Not the default target" in text  # a fixture is not the default grid
    for row in data.itertuples():
        # every cell names its statistic, threshold, interval and effect; every interval holds its estimate
        assert f"**{row.verdict}**: {row.statistic} = {row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]" in text
        assert row.ci_low <= row.value <= row.ci_high and row.effect_low <= row.effect <= row.effect_high
        assert row.margin > 0


def test_claim3_judges_the_applied_direction_absolutely(findings: tuple[str, pd.DataFrame]) -> None:
    text, data = findings
    c3 = data.set_index(["number", "protocol"]).loc[(3, "paper")]
    assert c3["threshold"] == 0.5 and "applied (after clipping)" in c3["statistic"]
    assert "before clipping the NBS alignment rate is" in text


def test_one_seed_gives_insufficient_evidence(tmp_path: Path) -> None:
    for method in ("erm", *PAIRS, *PAIRS.values()):
        write_predicted_run(tmp_path, method=method, seed=0, epochs=5, bargain_epochs=4,
                            accuracy=0.92 if method.startswith("nbs_") else 0.75)
    text, data, _ = build_findings(collect_runs(tmp_path), n_boot=100)
    assert set(data["verdict"]) == {"insufficient evidence"}
    assert "below the minimum of 5" in text


def test_any_experiment_and_method_set(tmp_path: Path) -> None:
    # an experiment of its own name with three methods: the page says what it measures and what it lacks
    for seed in range(5):
        for method in ("erm", "ltr", "nbs_ltr"):
            write_predicted_run(tmp_path, method=method, seed=seed, epochs=5, bargain_epochs=4,
                                accuracy=0.9 if method == "nbs_ltr" else 0.75)
    frame = collect_runs(tmp_path, experiment="mine")
    text, data, _ = build_findings(frame, n_boot=100)
    assert "Experiments: mine" in text and "pairs not run" in text and "NBS+FORML with FORML" in text
    assert set(data["number"]) == {1, 2, 3, 4, 5, 6}
    text, data, _ = build_findings(frame[frame["method"] == "erm"], n_boot=100)
    assert data.empty and "claims 1-6 need at least one such pair" in text


def test_identical_nbs_runs_count_once() -> None:
    from fairbench.reports.claims import _stage1_claim

    rows = [{"run_dir": f"{m}{s}", "protocol": "paper", "setting": "a", "method": m, "seed": s,
             "pareto_improvement_rate": 0.3 + 0.05 * s}
            for s in range(5) for m in PAIRS]
    three = _stage1_claim(4, pd.DataFrame(rows), "pareto_improvement_rate")
    one = _stage1_claim(4, pd.DataFrame([r for r in rows if r["method"] == "nbs_ltr"]), "pareto_improvement_rate")
    assert three.primary.se == pytest.approx(one.primary.se) and three.seeds == [5]


def test_claim6_interval_contains_its_estimate() -> None:
    from fairbench.reports.claims import measure_claims

    rng = np.random.default_rng(3)
    rows = []
    for setting in ("a", "b"):
        for seed in range(5):
            for method in ("erm", *PAIRS, *PAIRS.values()):
                rows.append({"run_dir": f"{setting}{method}{seed}", "protocol": "standard", "setting": setting,
                             "method": method, "seed": seed, "degenerate": False, "auc": rng.random(),
                             **{k: round(rng.random(), 1) for k in ("group_auc_gap", "worst_group_auc",
                                                                    "tpr_gap", "fpr_gap")}})
    stage1 = pd.DataFrame(columns=["run_dir", "protocol", "setting", "method", "seed"])
    r = measure_claims(pd.DataFrame(rows), stage1, {})[6]
    low, high = r.interval()
    assert low <= r.primary.point <= high and low < high


def test_cli_writes_the_page(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "FINDINGS.md"
    assert main(["report", "findings", "--root", str(root), "--out", str(out), "--csv",
                 str(tmp_path / "f.csv"), "--html", str(tmp_path / "f.html"), "--draws", "200"]) == 0
    assert out.read_text().startswith("# Findings") and len(pd.read_csv(tmp_path / "f.csv")) == 12
    page = (tmp_path / "f.html").read_text()
    assert "<table>" in page and "<th>Claim</th>" in page
    assert (tmp_path / "figures" / "specification_curve.png").is_file()
    assert (tmp_path / "findings_robustness.csv").is_file()
    assert main(["report", "findings", "--root", str(root), "--out", str(out), "--draws", "5"]) == 2
    assert "at least 100 bootstrap draws" in capsys.readouterr().err


def test_identical_stage1_variants_are_called_out(tmp_path: Path) -> None:
    from fairbench.reports.findings import _identical_stage1
    from fairbench.reports.stats import STAGE1_COLUMNS
    from tests.test_reports_fixtures import write_grid

    write_grid(tmp_path, settings=["adult-sex"], methods=list(PAIRS), protocols=["standard"], seeds=range(2),
               epochs=5, bargain_epochs=3)
    frame = collect_runs(tmp_path)
    assert _identical_stage1(frame) == {}
    nbs = frame["method"] == "nbs_ltr"
    for other in ("nbs_forml", "nbs_meta_gdro"):
        rows = frame["method"] == other
        frame.loc[rows, list(STAGE1_COLUMNS)] = frame.loc[nbs, list(STAGE1_COLUMNS)].to_numpy()
    assert _identical_stage1(frame) == {"standard": ["adult-sex"]}


def test_more_seeds_line_gives_the_width_ratio(findings: tuple[str, pd.DataFrame]) -> None:
    from fairbench.reports.findings import _width_lines
    from fairbench.reports.seed_count import ci_widths_by_seeds
    from tests.test_reports_seed_count import _selected

    assert "More seeds" not in findings[0]  # 4 seeds everywhere: nothing to compare
    selected = _selected({"ltr": 20, "nbs_ltr": 20, "erm": 5})
    lines = _width_lines(selected, {})
    widths = ci_widths_by_seeds(selected)
    auc = widths[widths["metric"] == "auc"]["ratio"].median()
    assert len(lines) == 1 and "standard protocol; Titanic (sex)" in lines[0]
    assert f"Overall AUC {auc:.2f}" in lines[0] and "first 5" in lines[0]
    assert "0.40 expected" in lines[0]  # t-intervals, 5 -> 20 independent seeds
