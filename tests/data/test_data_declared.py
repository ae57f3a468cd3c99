"""Settings declared in YAML specs: parsing, errors naming the key, formats, splits, hyper-parameters,
labels, the workflow config, and a user's own setting from a CSV file through prepare, train and tables."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from fairbench.cli import main
from fairbench.data import SpecError, load_split
from fairbench.data.declare import load_spec, use_specs
from fairbench.data.errors import ChecksumError, DataUnavailableError
from fairbench.data.frames import reference_frame
from fairbench.data.preprocess import encode_frame
from fairbench.data.registry import DatasetSpec, GroupSpec, SettingSpec, display_name, get_setting, list_settings, register
from fairbench.data.hyperparams import reference_hyperparams
from fairbench.hparams import DEFAULT_HYPERPARAMS
from fairbench.reports.labels import setting_label, setting_order

pytestmark = pytest.mark.usefixtures("clean_registry")


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test its own raw-file cache: the tests declare different files under the same name."""
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "cache"))


def survey_csv(path: Path, n: int = 400, seed: int = 0) -> Path:
    """A small synthetic table: a label that depends on income and region, two regions, a string column."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south"], size=n, p=[0.6, 0.4])
    income = rng.normal(50, 10, size=n) + np.where(region == "north", 5, 0)
    frame = pd.DataFrame({
        "ID": np.arange(n),
        "Income": income.round(2),
        "Age": rng.integers(18, 80, size=n),
        "Region": region,
        "Job": rng.choice(["a", "b", "c"], size=n),
        "Outcome": np.where(income + rng.normal(0, 5, size=n) > 52, "approved", "denied"),
    })
    frame.to_csv(path, index=False)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def survey_spec(folder: Path, **changes: Any) -> dict[str, Any]:
    data = survey_csv(folder / "survey.csv")
    spec: dict[str, Any] = {
        "dataset": "survey",
        "display_name": "Survey",
        "source": {"path": "survey.csv", "sha256": sha256(data)},
        "rows": 400,
        "label": {"column": "Outcome", "favourable": ["approved"]},
        "drop": ["ID"],
        "settings": [{
            "name": "survey-region",
            "display_name": "My survey (region)",
            "sensitive": {"column": "Region", "categories": ["north", "south"]},
            "features": 7,
            "split": {"val_per_cell": 2, "test_per_cell": 10, "replacement": False},
            "hyperparameters": {"batch_size": 32, "epochs": 3, "lr": "1e-3"},
        }],
    }
    spec.update(changes)
    return spec


def write_spec(folder: Path, spec: dict[str, Any], name: str = "survey.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_user_setting_from_a_csv_trains_and_appears_in_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No code change: a spec over a CSV file, then prepare, train (two methods, two seeds) and tables."""
    spec = write_spec(tmp_path, survey_spec(tmp_path))
    monkeypatch.setenv("FAIRBENCH_DATA_SPECS", str(spec))
    prepared, runs = tmp_path / "prepared", tmp_path / "runs"
    assert main(["data", "prepare", "survey-region", "--out", str(prepared)]) == 0
    for method in ("erm", "nbs_ltr"):
        out = runs / f"main/standard/survey-region/{method}/default/seed{{seed}}"
        assert main(["train", "--setting", "survey-region", "--method", method, "--seeds", "0,1", "--protocol",
                     "standard", "--out", str(out), "--prepared", str(prepared), "--no-progress"]) == 0
    metrics = pd.read_csv(runs / "main/standard/survey-region/nbs_ltr/default/seed0/metrics.csv")
    assert len(metrics) == 3  # the spec's epochs
    assert main(["report", "collect", "--root", str(runs), "--out", str(tmp_path / "runs.parquet")]) == 0
    assert main(["report", "tables", "--collected", str(tmp_path / "runs.parquet"), "--out",
                 str(tmp_path / "tables")]) == 0
    table = (tmp_path / "tables/main_standard.md").read_text()
    assert "| My survey (region) | ERM" in table and "NBS+LtR" in table


def test_the_user_setting_is_listed_with_its_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path, survey_spec(tmp_path))
    assert main(["data", "list", "--spec", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert rows["survey-region"][1:7] == ["survey", "400", "2", "4", "7", "yes"]  # read in place: at hand
    assert rows["survey-region"][-1].endswith("survey.yaml") and str(spec.name) in rows["survey-region"][-1]


def test_frame_groups_labels_and_encoding_follow_the_spec(tmp_path: Path) -> None:
    use_specs([write_spec(tmp_path, survey_spec(tmp_path))])
    raw = pd.read_csv(tmp_path / "survey.csv")
    frame = reference_frame("survey-region")
    assert list(frame.X.columns) == ["income", "age", "region", "job"]  # lower-cased, id dropped
    assert frame.y.tolist() == (raw["Outcome"] == "approved").astype(int).tolist()
    assert frame.group.tolist() == (raw["Region"] == "south").astype(int).tolist()
    table = encode_frame("survey-region", frame)
    assert table.feature_names == ["age", "income", "job_a", "job_b", "job_c", "region_north", "region_south"]


def test_split_recipe_and_the_fixed_split(tmp_path: Path) -> None:
    use_specs([write_spec(tmp_path, survey_spec(tmp_path, rows=None, settings=[{
        "name": "survey-region", "sensitive": {"column": "region", "categories": ["north", "south"]},
        "split": {"val_per_cell": 2, "test_per_cell": 10, "replacement": False}}]))])
    fixed = load_split("survey-region")  # the paper split of a declared setting: seed 0 of its recipe
    assert fixed.split == "fixed-seed0-norepl"
    assert np.bincount(fixed.test.cell).tolist() == [10] * 4 and np.bincount(fixed.val.cell).tolist() == [2] * 4
    assert len(np.unique(fixed.test.index)) == 40  # without replacement
    again = load_split("survey-region", split="paper")
    assert np.array_equal(again.test.index, fixed.test.index)
    seeded = load_split("survey-region", split=0, test_with_replacement=False)
    assert np.array_equal(seeded.test.index, fixed.test.index) and seeded.split == "seed0-norepl"
    other = load_split("survey-region", split=1, test_with_replacement=False)
    assert not np.array_equal(other.test.index, fixed.test.index)
    with_repl = load_split("survey-region", split="paper", test_with_replacement=True)
    assert with_repl.split == "fixed-seed0" and np.bincount(with_repl.test.cell).tolist() == [10] * 4
    with pytest.raises(ValueError, match="val_per_cell=2"):
        load_split("survey-region", split="paper", val_per_cell=3)


def test_hyperparameters_default_and_declared(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    del spec["settings"][0]["hyperparameters"]
    use_specs([write_spec(tmp_path, spec)])
    assert reference_hyperparams("survey-region") == DEFAULT_HYPERPARAMS.override(val_per_cell=2)
    german = reference_hyperparams("german-age")
    assert (german.batch_size, german.epochs, german.val_per_cell, german.lr) == (64, 50, 2, 1e-3)
    acs = reference_hyperparams("acs_income-sex")
    assert (acs.batch_size, acs.epochs, acs.bargain_epochs, acs.val_per_cell) == (512, 20, 5, 3)
    assert reference_hyperparams("adult-sex").batch_size == 512  # the paper's values are untouched
    with pytest.raises(ValueError, match="unknown setting 'nope'"):
        reference_hyperparams("nope")


def test_labels_and_order_come_from_the_registry(tmp_path: Path) -> None:
    use_specs([write_spec(tmp_path, survey_spec(tmp_path))])
    assert setting_label("adult-sex") == "Adult (sex)" and setting_label("us_crime-blackgt6pct") == "US crime (blackgt6pct)"
    assert setting_label("german-age") == "German credit (age)" and setting_label("acs_income-sex") == "ACSIncome (sex)"
    assert setting_label("survey-region") == display_name("survey-region") == "My survey (region)"
    assert setting_label("gone-attr") == "gone (attr)"  # runs of a spec that is not loaded
    assert setting_order(["zzz", "survey-region", "german-age", "adult-race", "adult-sex"]) == [
        "adult-sex", "adult-race", "german-age", "survey-region", "zzz"]


def test_settings_from_code() -> None:
    dataset = DatasetSpec(name="made", inputs=(), n_rows=None, n_columns=None, label="y", licence="none",
                          display_name="Made", reader=lambda paths: (pd.DataFrame({"g": [0, 1]}), np.array([0, 1])))
    setting = SettingSpec(name="made-g", dataset="made", group=GroupSpec("g", names=("a", "b"), values=(0, 1)),
                          paper_split=None, val_per_cell=1, test_fraction=None, n_features=None, test_per_cell=1)
    assert register(dataset, [setting]) == ["made-g"]
    assert register(dataset, [setting]) == ["made-g"]  # the same objects again: nothing changes
    assert get_setting("made-g") is setting and "made-g" in list_settings() and setting_label("made-g") == "Made (g)"
    with pytest.raises(SpecError, match="setting 'adult-sex' is already registered"):
        register(None, [SettingSpec(name="adult-sex", dataset="made", group=setting.group, paper_split=None,
                                    val_per_cell=1, test_fraction=None, n_features=None)])


BAD = [
    ({"sha256": "abc"}, "source.sha256", "64 hexadecimal digits"),
    ({"format": "json"}, "source.format", "csv, parquet, arff, xls, xlsx"),
    ({"read": {"delimiter": ";"}}, "source.read.delimiter", "unknown key"),
    ({"url": "https://example.org/x.csv"}, "source", "exactly one of 'url'"),
]


@pytest.mark.parametrize(("change", "key", "problem"), BAD)
def test_bad_source_names_the_key(tmp_path: Path, change: dict[str, Any], key: str, problem: str) -> None:
    spec = survey_spec(tmp_path)
    spec["source"].update(change)
    spec["source"] = {k: v for k, v in spec["source"].items() if v is not None}
    with pytest.raises(SpecError, match=rf"survey\.yaml: key '{key}': .*{problem}"):
        load_spec(write_spec(tmp_path, spec))


SETTING_BAD = [
    ({"sensitive": {"column": "region"}}, "settings[0].sensitive", "exactly one of 'threshold'"),
    ({"sensitive": {"column": "region", "categories": {"a": ["north"], "b": ["north"]}}},
     "settings[0].sensitive.categories", "more than one group"),
    ({"split": {"val_per_cell": 2}}, "settings[0].split", "exactly one of 'test_per_cell'"),
    ({"split": {"val_per_cell": 0, "test_per_cell": 3}}, "settings[0].split.val_per_cell", "integer >= 1"),
    ({"split": {"val_per_cell": 1, "test_fraction": 1.5}}, "settings[0].split.test_fraction", r"in \(0, 1\)"),
    ({"hyperparameters": {"epochs": "many"}}, "settings[0].hyperparameters.epochs", "expected a int"),
    ({"hyperparameters": {"dropout": 1.5}}, "settings[0].hyperparameters", "dropout must be in"),
    ({"hyperparameters": {"learning_rate": 0.1}}, "settings[0].hyperparameters.learning_rate", "unknown key"),
    ({"name": "bad name"}, "settings[0].name", "expected a name"),
    ({"splits": {}}, "settings[0].splits", "unknown key; valid keys: name, display_name"),
]


@pytest.mark.parametrize(("change", "key", "problem"), SETTING_BAD)
def test_bad_setting_names_the_key(tmp_path: Path, change: dict[str, Any], key: str, problem: str) -> None:
    spec = survey_spec(tmp_path)
    spec["settings"][0].update(change)
    with pytest.raises(SpecError, match=rf"key '{re.escape(key)}': .*{problem}"):
        load_spec(write_spec(tmp_path, spec))


def test_top_level_errors_name_the_key(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    del spec["label"]
    with pytest.raises(SpecError, match="key 'label': required key is missing"):
        load_spec(write_spec(tmp_path, spec))
    with pytest.raises(SpecError, match="key 'labels': unknown key"):
        load_spec(write_spec(tmp_path, {**survey_spec(tmp_path), "labels": {}}))
    (tmp_path / "broken.yaml").write_text("dataset: [unclosed\n")
    with pytest.raises(SpecError, match="broken.yaml: not readable YAML"):
        load_spec(tmp_path / "broken.yaml")
    with pytest.raises(SpecError, match="does not exist"):
        use_specs([tmp_path / "missing.yaml"])


def test_columns_and_values_the_table_lacks_are_named(tmp_path: Path) -> None:
    use_specs([write_spec(tmp_path, survey_spec(tmp_path, label={"column": "outcome", "favourable": ["yes"]}))])
    with pytest.raises(SpecError, match=r"key 'label.favourable': none of \['yes'\] occurs in column 'outcome'"):
        reference_frame("survey-region")


def test_a_name_clash_and_a_changed_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="dataset 'german' is already registered"):
        use_specs([write_spec(tmp_path, survey_spec(tmp_path, dataset="german"))])
    spec = survey_spec(tmp_path)
    spec["source"]["sha256"] = "0" * 64
    use_specs([write_spec(tmp_path, spec, "other.yaml")])
    with pytest.raises(ChecksumError, match=r"survey.csv has sha256 [0-9a-f]{64}, but key 'source.sha256' of "
                                            r".*other.yaml pins 0000.*paste into the spec: sha256: [0-9a-f]{64}"):
        reference_frame("survey-region")


def test_a_missing_local_file_names_the_spec_key(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    spec["source"]["path"] = "elsewhere.csv"
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(DataUnavailableError, match="elsewhere.csv does not exist .*'source.path'"):
        reference_frame("survey-region")


def test_parquet_and_arff_sources(tmp_path: Path) -> None:
    frame = pd.read_csv(survey_csv(tmp_path / "survey.csv"))
    frame.to_parquet(tmp_path / "survey.parquet", index=False)
    lines = ["@relation survey", "@attribute income numeric", "@attribute region {north, south}",
             "@attribute outcome {'approved', 'denied'}", "@data"]
    lines += [f"{r.Income},{r.Region},'{r.Outcome}'" for r in frame.itertuples()]
    (tmp_path / "survey.arff").write_text("\n".join(lines) + "\n")
    for fmt, width in (("parquet", 7), ("arff", 3)):
        name = f"survey_{fmt}"
        spec = survey_spec(tmp_path, dataset=name, drop=[] if fmt == "arff" else ["ID"])
        spec["source"] = {"path": f"survey.{fmt}", "sha256": sha256(tmp_path / f"survey.{fmt}")}
        spec["settings"][0].update(name=f"{name}-region", features=width)
        use_specs([write_spec(tmp_path, spec, f"{name}.yaml")])
        built = reference_frame(f"{name}-region")
        assert built.y.tolist() == (frame["Outcome"] == "approved").astype(int).tolist(), fmt
        assert built.group.tolist() == (frame["Region"] == "south").astype(int).tolist(), fmt
        assert encode_frame(f"{name}-region", built).features.shape == (400, width), fmt


def test_threshold_groups_and_grouped_categories(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    spec["settings"] = [
        {"name": "survey-age", "sensitive": {"column": "age", "threshold": 40, "drop": True},
         "split": {"val_per_cell": 1, "test_fraction": 0.1}},
        {"name": "survey-job", "sensitive": {"column": "job", "categories": {"ab": ["a", "b"], "c": "c"}},
         "split": {"val_per_cell": 1, "test_per_cell": 5}},
    ]
    use_specs([write_spec(tmp_path, spec)])
    raw = pd.read_csv(tmp_path / "survey.csv")
    age = reference_frame("survey-age")
    assert age.group_names == ["age<=40", "age>40"] and "age" not in age.X.columns
    assert age.group.tolist() == (raw["Age"] > 40).astype(int).tolist()
    job = reference_frame("survey-job")
    assert job.group_names == ["ab", "c"] and job.group.tolist() == (raw["Job"] == "c").astype(int).tolist()
    assert np.bincount(load_split("survey-age", split=3).test.cell).tolist() == [10] * 4  # floor(0.1 * 400 / 4)


def test_workflow_config_accepts_declared_settings(tmp_path: Path) -> None:
    from fairbench.pipeline.config import ConfigError, check_config, job_hyperparams

    spec = write_spec(tmp_path, survey_spec(tmp_path))
    config = {"results_dir": str(tmp_path / "results"), "seeds": [0],
              "data": {"specs": [str(spec)]},
              "experiments": {"mine": {"protocols": ["standard"], "settings": ["survey-region", "german-age"],
                                       "methods": ["erm"]}}}
    jobs = check_config(config)
    assert [job.setting for job in jobs] == ["survey-region", "german-age"]
    assert job_hyperparams(jobs[0], config).batch_size == 32
    assert str(spec.resolve()) in __import__("os").environ["FAIRBENCH_DATA_SPECS"]  # for the jobs' processes
    config["experiments"]["mine"]["settings"] = ["survey-regio"]
    with pytest.raises(ConfigError, match="unknown setting 'survey-regio'"):
        check_config(config)
    config["data"]["specs"] = [str(tmp_path / "nope.yaml")]
    with pytest.raises(ConfigError, match="config key 'data.specs': dataset spec .*nope.yaml does not exist"):
        check_config(config)


@pytest.mark.mirror
@pytest.mark.parametrize(
    ("setting", "shape", "positives", "per_group", "width"),
    [
        ("german-age", (1000, 20), 700, [190, 810], 61),
        ("german-sex", (1000, 20), 700, [310, 690], 61),
        ("acs_income-sex", (332900, 10), 122863, [173263, 159637], 38),
    ],
)
def test_shipped_declared_settings(mirror: Path, session_data_dir: Path, setting: str, shape: tuple[int, int],
                                   positives: int, per_group: list[int], width: int) -> None:
    frame = reference_frame(setting, data_dir=session_data_dir, mirror=mirror)
    assert frame.X.shape == shape and int(frame.y.sum()) == positives
    assert np.bincount(frame.group).tolist() == per_group
    assert encode_frame(setting, frame).features.shape == (shape[0], width)


@pytest.mark.mirror
def test_an_xls_source(mirror: Path, tmp_path: Path) -> None:
    """The titanic workbook of the mirror, declared as an XLS spec (the paper's reader gives the same labels)."""
    xls = mirror / "titanic/titanic3.xls"
    spec = {"dataset": "titanic_xls", "source": {"path": str(xls), "sha256": sha256(xls)},
            "label": {"column": "survived", "favourable": [1]}, "drop": ["name", "ticket", "cabin", "boat", "home.dest"],
            "settings": [{"name": "titanic_xls-sex", "sensitive": {"column": "sex", "categories": ["female", "male"]},
                          "split": {"val_per_cell": 1, "test_per_cell": 9}}]}
    use_specs([write_spec(tmp_path, spec)])
    frame = reference_frame("titanic_xls-sex")
    paper = reference_frame("titanic-sex", mirror=mirror)
    assert np.array_equal(frame.y, paper.y) and np.array_equal(frame.group, paper.group)


def test_the_declared_settings_config_plans_its_grid() -> None:
    """config/declared.yaml: the paper's eight methods on the three shipped declared settings, one seed
    on ACSIncome (a seeds_for entry naming a declared setting)."""
    from fairbench.pipeline.config import ConfigError, check_config, job_hyperparams

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config/declared.yaml").read_text())
    jobs = check_config(config)
    assert len(jobs) == 3 * 8
    assert {job.setting for job in jobs} == {"german-age", "german-sex", "acs_income-sex"}
    acs = next(job for job in jobs if job.setting == "acs_income-sex")
    assert job_hyperparams(acs, config).batch_size == 512
    assert acs.seeds == (0, 1, 2) and next(job for job in jobs if job.setting == "german-age").seeds == (0, 1, 2, 3, 4)
    config["experiments"]["main"]["seeds_for"][0]["settings"] = ["acs_income-race"]
    with pytest.raises(ConfigError, match=r"seeds_for\.0\.settings': unknown setting 'acs_income-race'; "
                                          r"valid: .*german-age"):
        check_config(config)


def test_a_sensitive_column_or_value_the_table_lacks_is_named(tmp_path: Path) -> None:
    from fairbench.data.errors import FrameError

    spec = survey_spec(tmp_path)
    spec["settings"] = [
        {"name": "survey-town", "sensitive": {"column": "town", "categories": ["a", "b"]},
         "split": {"val_per_cell": 1, "test_per_cell": 5}},
        {"name": "survey-north", "sensitive": {"column": "region", "categories": {"n": ["north"], "x": ["east"]}},
         "split": {"val_per_cell": 1, "test_per_cell": 5}},
    ]
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(FrameError, match="setting survey-town: sensitive column 'town' is not among income, age"):
        reference_frame("survey-town")
    with pytest.raises(FrameError, match=r"'region' has values \['south'\] that belong to no group"):
        reference_frame("survey-north")
