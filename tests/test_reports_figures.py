"""Figures exist, are non-trivial images, and the Pareto front is right (fairbench.reports.figures)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from fairbench.reports.collect import collect_runs
from fairbench.reports.figures import (ablation_figure, alignment_figure, curves_figure, pareto_front,
                                       tradeoff_figure, write_figures)
from fairbench.reports.selection import select_epochs
from tests.test_reports_fixtures import write_grid


def assert_real_image(path: Path, min_kb: float = 20.0) -> None:
    """A PNG of reasonable size whose pixels are not all one colour."""
    assert path.suffix == ".png" and path.stat().st_size > min_kb * 1024, path
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400
    assert float(image[..., :3].std()) > 0.05, f"{path} is (nearly) a single colour"
    assert path.with_suffix(".pdf").stat().st_size > 5 * 1024


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("runs")
    write_grid(root, settings=["adult-sex"], seeds=range(3), epochs=12, bargain_epochs=6,
               effects={"nbs_ltr": 0.04, "nbs_forml": 0.02})
    for T in (0, 3, 12):
        write_grid(root, settings=["adult-sex"], methods=["nbs_ltr"], protocols=["standard"], seeds=range(3),
                   epochs=12, bargain_epochs=T, experiment_dir="ablation_T")
    for v in (1, 5):
        write_grid(root, settings=["adult-sex"], methods=["nbs_ltr"], protocols=["standard"], seeds=range(3),
                   epochs=12, bargain_epochs=6, val_per_cell=v, experiment_dir="ablation_val")
    return collect_runs(root)


def test_each_kind_of_figure_is_a_real_image(runs: pd.DataFrame, tmp_path: Path) -> None:
    selected = select_epochs(runs)
    written = [
        *curves_figure(runs, "adult-sex", "paper", tmp_path),
        *alignment_figure(runs, "adult-sex", "standard", tmp_path),
        *tradeoff_figure(selected, "adult-sex", "standard", tmp_path),
        *ablation_figure(selected, "adult-sex", "standard", tmp_path, kind="T"),
        *ablation_figure(selected, "adult-sex", "standard", tmp_path, kind="val"),
    ]
    assert len(written) == 10 and all(p.exists() for p in written)
    for path in written:
        if path.suffix == ".png":
            assert_real_image(path)
    assert not list(tmp_path.glob(".*.part"))


def test_write_figures_covers_protocols_settings_and_ablations(runs: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_figures(runs[runs["protocol"] == "standard"], tmp_path)
    stems = {p.stem for p in paths}
    assert stems == {"curves_standard_adult-sex", "alignment_standard_adult-sex", "tradeoff_standard_adult-sex",
                     "ablation_T_standard_adult-sex", "ablation_val_standard_adult-sex", "index"}
    assert {p.suffix for p in paths} == {".png", ".pdf", ".md"}
    index = (tmp_path / "index.md").read_text()
    assert "[tradeoff_standard_adult-sex.png](tradeoff_standard_adult-sex.png)" in index


def test_missing_runs_are_errors(runs: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no runs for titanic-sex"):
        curves_figure(runs, "titanic-sex", "paper", tmp_path)
    with pytest.raises(ValueError, match="no ablation_T runs"):
        ablation_figure(select_epochs(runs), "adult-sex", "paper", tmp_path, kind="T")
    with pytest.raises(ValueError, match="nothing to plot"):
        write_figures(runs.iloc[0:0], tmp_path)
    assert not list(tmp_path.iterdir())


def test_pareto_front_keeps_only_non_dominated_points() -> None:
    auc = np.array([0.80, 0.85, 0.78, 0.90, 0.84, 0.90])
    gap = np.array([0.10, 0.12, 0.05, 0.20, 0.15, 0.25])
    # (0.84, 0.15) is dominated by (0.85, 0.12); (0.90, 0.25) by (0.90, 0.20)
    assert pareto_front(auc, gap).tolist() == [2, 0, 1, 3]


def test_a_figure_rendered_twice_is_byte_identical(runs: pd.DataFrame, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No creation date in the files: re-rendering unchanged inputs leaves them as they were."""
    selected = select_epochs(runs[runs["protocol"] == "standard"])
    rendered = []
    for when, folder in (("1000000000", "a"), ("2000000000", "b")):  # matplotlib dates files by this clock
        monkeypatch.setenv("SOURCE_DATE_EPOCH", when)
        rendered.append(tradeoff_figure(selected, "adult-sex", "standard", tmp_path / folder))
    assert [p.suffix for p in rendered[0]] == [".png", ".pdf"]
    for first, second in zip(*rendered, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_any_experiment_and_method_set_gets_figures_and_a_note_of_what_is_missing(tmp_path: Path) -> None:
    """An experiment named neither main nor comparisons, without a meta method: curves and trade-off
    drawn, and index.md says what the bargaining and ablation figures need, instead of an error."""
    write_grid(tmp_path / "runs", settings=["titanic-sex"], methods=["erm", "dro"], protocols=["standard"],
               seeds=range(3), epochs=4, bargain_epochs=2, experiment_dir="mine")
    paths = write_figures(collect_runs(tmp_path / "runs"), tmp_path / "figures")
    assert {p.name for p in paths} >= {"curves_standard_titanic-sex.png", "tradeoff_standard_titanic-sex.png",
                                       "index.md"}
    index = (tmp_path / "figures" / "index.md").read_text()
    assert "bargaining success (Titanic (sex), standard protocol): needs a meta method" in index
    assert "ablations over T and validation rows: need runs of the experiments ablation_T, ablation_val" in index
