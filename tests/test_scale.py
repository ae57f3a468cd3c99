"""``fairbench scale``: subsamples, one fresh process per point, the table, the ratios and the figure."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fairbench.cli import main
from fairbench.perf.scale import Measurement, linear_fit, summary

sys.path.insert(0, str(Path(__file__).parent / "data"))
from test_data_declared import survey_spec  # noqa: E402


def test_linear_fit_and_ratios() -> None:
    assert linear_fit([1.0, 2.0, 3.0], [5.0, 7.0, 9.0]) == pytest.approx((3.0, 2.0))
    points = [Measurement("erm", n, n - 10, 4, n // 10, 2 * n / 1000, n / 1000, 10.0, 300.0, 300.0 + n / 100,
                          300.0 + 2 * n / 100 + 5, n / 100) for n in (1000, 3000)]
    text = summary(points)
    assert "| erm | 3,000 | 300 | 3.000 | 10.00 | 6.000 | 3.0x | 3.0x | 365 | 65 | 35 | 30.0 |" in text
    assert ("erm: memory above imports = 5 MiB + 2.0 x data; CPU seconds per epoch = 0.000 + 1000.00 per million "
            "rows") in text


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """The survey setting registered here is forgotten afterwards."""
    from fairbench.data import declare, registry

    registry.list_settings()
    saved = (dict(registry.DATASETS), dict(registry.SETTINGS), set(declare._LOADED), set(declare._SEEN_ENV))
    yield
    for live, old in zip((registry.DATASETS, registry.SETTINGS, declare._LOADED, declare._SEEN_ENV), saved):
        live.clear()
        live.update(old)


@pytest.mark.usefixtures("clean_registry")
def test_scale_command_on_a_declared_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "survey.yaml"
    spec.write_text(yaml.safe_dump(survey_spec(tmp_path)))
    monkeypatch.setenv("FAIRBENCH_DATA_SPECS", str(spec))
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "prepare", "survey-region", "--out", str(tmp_path / "prepared")]) == 0
    out = tmp_path / "scale"
    assert main(["scale", "--setting", "survey-region", "--prepared", str(tmp_path / "prepared"), "--sizes",
                 "200,all", "--methods", "erm,nbs_ltr", "--epochs", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out / "scale.csv")
    assert table[["method", "rows"]].values.tolist() == [["erm", 200], ["nbs_ltr", 200], ["erm", 400],
                                                         ["nbs_ltr", 400]]
    # 8 validation rows and 40 test rows (the spec's recipe), batches of 32
    assert table["n_train"].tolist() == [152, 152, 352, 352]
    assert table["steps_per_epoch"].tolist() == [4, 4, 11, 11]
    assert (table["epoch_seconds"] > 0).all() and (table["epoch_cpu_seconds"] > 0).all()
    assert (table["peak_mb"] >= table["data_peak_mb"]).all() and (table["data_peak_mb"] >= table["base_mb"]).all()
    assert table["data_mb"].tolist() == pytest.approx([200 * 7 * 4 / 2**20] * 2 + [400 * 7 * 4 / 2**20] * 2)
    assert (out / "scale.png").stat().st_size > 1000 and "| nbs_ltr | 400 | 11 |" in (out / "scale.md").read_text()
    assert not (out / "subsamples").exists()


def test_bad_sizes_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--sizes '10,x'"):
        from fairbench.perf.scale import _sizes

        _sizes("10,x")
    assert main(["scale", "--prepared", str(tmp_path), "--methods", "nope"]) == 2
