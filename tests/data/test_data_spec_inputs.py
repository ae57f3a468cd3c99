"""Declared specs as untrusted input: stale prepared tables, blank labels, identifier columns, read errors,
YAML 1.1 surprises, archive paths, the content-keyed cache, local files read in place, unpinned files,
broken specs in ``data list``, intersectional groups and the row filter."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from fairbench.cli import main
from fairbench.data import PreparedDataError, SpecError, load_prepared, load_split, prepare
from fairbench.data import declare, registry
from fairbench.data.acquire import fetch, fetch_spec
from fairbench.data.declare import load_spec, use_specs
from fairbench.data.errors import ChecksumError, SplitError
from fairbench.data.frames import reference_frame
from fairbench.data.preprocess import encode_frame
from tests.data.test_data_declared import sha256, survey_csv, survey_spec, write_spec

pytestmark = pytest.mark.usefixtures("clean_registry")


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAIRBENCH_DATA_DIR", str(tmp_path / "cache"))


def forget(dataset: str) -> None:
    """Unregister a declared dataset and its settings, as a new process would not know them."""
    registry.DATASETS.pop(dataset, None)
    for name in [n for n, s in registry.SETTINGS.items() if s.dataset == dataset]:
        registry.SETTINGS.pop(name)
    declare._LOADED.clear()


def csv_with(folder: Path, frame: pd.DataFrame, name: str = "table.csv") -> Path:
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def small_spec(folder: Path, data: Path, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "dataset": "small", "source": {"path": data.name, "sha256": sha256(data)},
        "label": {"column": "outcome", "favourable": ["good"]},
        "settings": [{"name": "small-g", "sensitive": {"column": "g", "categories": ["a", "b"]},
                      "split": {"val_per_cell": 1, "test_per_cell": 2}}],
    }
    spec.update(changes)
    return spec


def small_frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"x": rng.normal(size=n).round(3), "g": np.tile(["a", "b"], n // 2),
                         "outcome": np.tile(["good", "good", "bad", "bad"], n // 4)})


# --- stale prepared data -------------------------------------------------------------------------------

def test_a_prepared_table_of_an_edited_spec_is_refused(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    path = write_spec(tmp_path, spec)
    use_specs([path])
    prepared = tmp_path / "prepared"
    prepare("survey-region", prepared)
    assert load_prepared(prepared, "survey-region").y.sum() > 0
    manifest = json.loads((prepared / "survey-region.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["spec_digest"])
    spec["label"]["favourable"] = ["denied"]  # the user edits the spec after preparing
    write_spec(tmp_path, spec)
    forget("survey")
    use_specs([path])
    with pytest.raises(PreparedDataError, match=r"built from another spec or recipe .*fairbench data prepare "
                                                r"survey-region --prepared"):
        load_prepared(prepared, "survey-region")
    prepare("survey-region", prepared)  # preparing again gives the new labels
    raw = pd.read_csv(tmp_path / "survey.csv")
    assert load_prepared(prepared, "survey-region").y.tolist() == (raw["Outcome"] == "denied").astype(int).tolist()


def test_the_workflow_prepares_a_setting_again_when_its_spec_changes() -> None:
    rule = (Path(__file__).resolve().parents[2] / "workflow/rules/data.smk").read_text()
    block = rule[rule.index("rule prepare_setting:"):]
    block = block[:block.index("output:")]
    assert "spec=lambda wc: spec_of(wc.setting)" in block
    assert "--prepared {params.out:q}" in rule


# --- labels, identifiers, read errors -----------------------------------------------------------------

def test_blank_label_cells_are_missing_not_the_unfavourable_class(tmp_path: Path) -> None:
    frame = small_frame()
    frame.loc[[3, 7], "outcome"] = None
    data = csv_with(tmp_path, frame)
    use_specs([write_spec(tmp_path, small_spec(tmp_path, data))])
    with pytest.raises(SpecError, match=r"key 'label.column': column 'outcome' has 2 missing \(blank\) value\(s\), "
                                        r"at row\(s\) 3, 7 .*filter: \[\{column: outcome\}\]"):
        reference_frame("small-g")
    forget("small")
    use_specs([write_spec(tmp_path, small_spec(tmp_path, data, filter=[{"column": "outcome"}]))])
    built = reference_frame("small-g")  # the spec removes them, explicitly
    assert len(built.y) == 38 and built.y.tolist() == (frame["outcome"].dropna() == "good").astype(int).tolist()


def test_a_unique_text_column_is_refused_by_name(tmp_path: Path) -> None:
    frame = small_frame(200)
    frame["ticket"] = [f"T-{i:05d}" for i in range(200)]
    data = csv_with(tmp_path, frame)
    use_specs([write_spec(tmp_path, small_spec(tmp_path, data))])
    with pytest.raises(SpecError, match=r"key 'drop': column 'ticket' is text with 200 distinct values in 200 rows "
                                        r"\(more than 100\).*add it to 'drop'"):
        reference_frame("small-g")
    forget("small")
    use_specs([write_spec(tmp_path, small_spec(tmp_path, data, drop=["ticket"]))])
    assert encode_frame("small-g", reference_frame("small-g")).features.shape == (200, 3)


READ_ERRORS = [
    ({"format": "parquet"}, "source.format", "cannot be read as parquet"),
    ({"read": {"encoding": "utf-16"}}, "source.read.encoding", "cannot be read as csv"),
    ({}, "source.read.encoding", "cannot be read as csv .*utf-8"),  # a Latin-1 file read as UTF-8
]


@pytest.mark.parametrize(("change", "key", "problem"), READ_ERRORS)
def test_table_read_errors_name_the_spec_and_key(tmp_path: Path, change: dict[str, Any], key: str,
                                                 problem: str) -> None:
    frame = small_frame()
    frame.loc[0, "g"] = "a"
    frame.loc[0, "outcome"] = "gööd"
    data = tmp_path / "table.csv"
    data.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    spec = small_spec(tmp_path, data)
    spec["source"].update(change)
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(SpecError, match=rf"survey\.yaml: key '{re.escape(key)}': .*{problem}"):
        reference_frame("small-g")


def test_a_threshold_on_text_names_the_spec_and_key(tmp_path: Path) -> None:
    data = csv_with(tmp_path, small_frame())
    spec = small_spec(tmp_path, data)
    spec["settings"][0]["sensitive"] = {"column": "g", "threshold": 1}
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(SpecError, match=r"survey\.yaml: key 'sensitive.threshold of setting small-g': column 'g' "
                                        r"holds text .*use 'categories'"):
        reference_frame("small-g")


def test_prepare_into_an_unwritable_place_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    use_specs([write_spec(tmp_path, survey_spec(tmp_path))])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["data", "prepare", "survey-region", "--out", str(blocker / "prepared")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fairbench data: error: ") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "a-file" in err


def test_prepare_takes_the_flag_name_of_train_and_keeps_out(tmp_path: Path) -> None:
    use_specs([write_spec(tmp_path, survey_spec(tmp_path))])
    for flag, folder in (("--prepared", "one"), ("--out", "two")):
        assert main(["data", "prepare", "survey-region", flag, str(tmp_path / folder)]) == 0
        assert (tmp_path / folder / "survey-region.parquet").is_file()


# --- YAML 1.1 -----------------------------------------------------------------------------------------

def test_yes_no_and_country_codes_stay_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(40), "country": np.tile(["NO", "SE"], 20),
                          "answer": np.tile(["yes", "yes", "no", "no"], 10)})
    data = csv_with(tmp_path, frame)
    (tmp_path / "survey.yaml").write_text(
        f"dataset: nordic\nsource: {{path: {data.name}, sha256: {sha256(data)}}}\n"
        "label: {column: answer, favourable: [yes]}\n"
        "settings:\n  - name: nordic-country\n    sensitive: {column: country, categories: [NO, SE]}\n"
        "    split: {val_per_cell: 1, test_per_cell: 2}\n")
    use_specs([tmp_path / "survey.yaml"])
    built = reference_frame("nordic-country")
    assert built.group_names == ["NO", "SE"] and built.group.tolist() == [0, 1] * 20
    assert built.y.tolist() == (frame["answer"] == "yes").astype(int).tolist()


def test_quoted_values_against_a_numeric_column_say_how_to_write_them(tmp_path: Path) -> None:
    frame = small_frame()
    frame["outcome"] = np.tile([1, 0], 20)
    data = csv_with(tmp_path, frame)
    spec = small_spec(tmp_path, data, label={"column": "outcome", "favourable": ["1"]})
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(SpecError, match=r"key 'label.favourable': none of \['1'\] .*the spec gives text \['1'\] but "
                                        r"the column holds numbers \(int64\); write the values without quotes"):
        reference_frame("small-g")


def test_numbers_against_a_text_column_say_to_quote_them(tmp_path: Path) -> None:
    data = csv_with(tmp_path, small_frame())
    spec = small_spec(tmp_path, data)
    spec["settings"][0]["sensitive"] = {"column": "g", "categories": [1, 2]}
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(Exception, match=r"'g' has values \['a', 'b'\] that belong to no group.*the spec gives int "
                                        r"values \[1, 2\] but the column holds text; quote them, e.g. \['1', '2'\]"):
        reference_frame("small-g")


# --- paths and the cache ------------------------------------------------------------------------------

def test_an_archive_member_outside_the_archive_is_blamed_on_member(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    spec["source"] = {"url": "https://example.org/data.zip", "member": ["../../evil.csv"], "sha256": "0" * 64}
    with pytest.raises(SpecError, match=r"key 'source.member': expected a path inside the archive, got "
                                        r"'../../evil.csv'"):
        load_spec(write_spec(tmp_path, spec))


def downloaded_spec(folder: Path, content: bytes) -> tuple[Path, Path]:
    """A project folder: a spec that downloads ``loans/loans.csv`` and a mirror that holds ``content``."""
    folder.mkdir(parents=True)
    mirror = folder / "mirror"
    (mirror / "loans").mkdir(parents=True)
    (mirror / "loans/loans.csv").write_bytes(content)
    spec = {"dataset": "loans", "source": {"url": "https://example.org/loans.csv", "sha256": sha256(mirror / "loans/loans.csv")},
            "label": {"column": "outcome", "favourable": ["good"]},
            "settings": [{"name": "loans-g", "sensitive": {"column": "g", "categories": ["a", "b"]},
                          "split": {"val_per_cell": 1, "test_per_cell": 2}}]}
    return write_spec(folder, spec, "loans.yaml"), mirror


def test_two_projects_with_a_dataset_of_the_same_name_never_share_a_cache_entry(tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    first = small_frame().to_csv(index=False).encode()
    second = small_frame(80).to_csv(index=False).encode()
    paths = []
    for name, content in (("project_a", first), ("project_b", second), ("project_a_again", first)):
        spec_path, mirror = downloaded_spec(tmp_path / name, content)
        dataset, _ = load_spec(spec_path)
        paths.append(fetch_spec(dataset, data_dir=cache, mirror=mirror)["table"])
    assert paths[0] != paths[1] and paths[0] == paths[2]  # keyed by content: same bytes, same entry
    assert paths[0].read_bytes() == first and paths[1].read_bytes() == second


def test_a_local_file_is_read_in_place_and_an_edit_needs_only_its_new_hash(tmp_path: Path) -> None:
    data = csv_with(tmp_path, small_frame())
    spec = small_spec(tmp_path, data)
    path = write_spec(tmp_path, spec)
    use_specs([path])
    assert fetch("small")["table"] == data.resolve()
    assert not (tmp_path / "cache").exists()  # nothing copied
    edited = small_frame()
    edited.loc[0, "outcome"] = "bad"
    csv_with(tmp_path, edited)
    with pytest.raises(ChecksumError, match=rf"paste into the spec: sha256: {sha256(data)}"):
        reference_frame("small-g")
    spec["source"]["sha256"] = sha256(data)
    write_spec(tmp_path, spec)
    forget("small")
    use_specs([path])
    assert reference_frame("small-g").y[0] == 0  # the edited row, not a stale copy


def test_a_missing_sha256_tells_the_hash_to_paste(tmp_path: Path) -> None:
    data = csv_with(tmp_path, small_frame())
    spec = small_spec(tmp_path, data)
    del spec["source"]["sha256"]
    use_specs([write_spec(tmp_path, spec)])
    with pytest.raises(ChecksumError, match=rf"key 'source.sha256' of .*survey.yaml is missing; .*table.csv has "
                                            rf"sha256 {sha256(data)}.*paste into the spec: sha256: {sha256(data)}"):
        reference_frame("small-g")


def test_data_list_shows_a_broken_spec_and_lists_the_others(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_spec(tmp_path, survey_spec(tmp_path))
    (tmp_path / "zz_broken.yaml").write_text(yaml.safe_dump({"dataset": "broken", "source": {"path": "x.csv"}}))
    assert main(["data", "list", "--spec", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^survey-region\s+survey\s+400", out, re.M)
    assert re.search(r"^\(broken\).*zz_broken.yaml$", out, re.M)
    assert re.search(r"^broken spec .*zz_broken.yaml: dataset spec .*key 'label': required key is missing", out, re.M)
    assert main(["data", "prepare", "survey-region", "--spec", str(tmp_path / "zz_broken.yaml"),
                 "--prepared", str(tmp_path / "p")]) == 2  # other commands still stop at it


# --- intersectional groups and row filters ----------------------------------------------------------

def intersection_spec(tmp_path: Path, n: int = 400, **split: Any) -> Path:
    spec = survey_spec(tmp_path)
    survey_csv(tmp_path / "survey.csv", n=n)
    spec["source"]["sha256"] = sha256(tmp_path / "survey.csv")
    spec.pop("rows")
    spec["settings"] = [{
        "name": "survey-region_job",
        "sensitive": [{"column": "Region", "categories": ["north", "south"]},
                      {"column": "Job", "categories": {"ab": ["a", "b"], "c": ["c"]}}],
        "split": split or {"val_per_cell": 2, "test_per_cell": 5, "replacement": False},
    }]
    return write_spec(tmp_path, spec)


def test_intersectional_groups_combine_attributes_without_code(tmp_path: Path) -> None:
    use_specs([intersection_spec(tmp_path)])
    raw = pd.read_csv(tmp_path / "survey.csv")
    built = reference_frame("survey-region_job")
    assert built.group_names == ["north & ab", "north & c", "south & ab", "south & c"]
    expected = (raw["Region"] == "south").astype(int) * 2 + (raw["Job"] == "c").astype(int)
    assert built.group.tolist() == expected.tolist()
    split = load_split("survey-region_job", split=0, test_with_replacement=False)
    assert split.n_cells == 8 and np.bincount(split.test.cell).tolist() == [5] * 8
    assert split.cell_names[3] == "north & c|y=1"


def test_a_cell_too_small_for_the_recipe_is_refused_by_name(tmp_path: Path) -> None:
    use_specs([intersection_spec(tmp_path, n=60, val_per_cell=20, test_per_cell=1)])
    with pytest.raises(SplitError, match=r"cell \d+ \('[a-z]+ & [a-z]+\|y=[01]'\) has \d+ rows, needs at least 21 "
                                         r".*merge groups"):
        load_split("survey-region_job", split=0)


def test_a_setting_filter_keeps_the_rows_of_its_groups(tmp_path: Path) -> None:
    spec = survey_spec(tmp_path)
    spec.pop("rows")
    spec["settings"] = [{"name": "survey-ab", "sensitive": {"column": "Job", "categories": ["a", "b"]},
                         "filter": [{"column": "Job", "in": ["a", "b"]}],
                         "split": {"val_per_cell": 1, "test_per_cell": 2}}]
    use_specs([write_spec(tmp_path, spec)])
    raw = pd.read_csv(tmp_path / "survey.csv")
    built = reference_frame("survey-ab")
    kept = raw[raw["Job"].isin(["a", "b"])]
    assert len(built.y) == len(kept) and built.group.tolist() == (kept["Job"] == "b").astype(int).tolist()


# --- the shipped specs on the real files ----------------------------------------------------------------

@pytest.mark.mirror
def test_adult_by_sex_and_race(mirror: Path, session_data_dir: Path) -> None:
    frame = reference_frame("adult-sex_race", data_dir=session_data_dir, mirror=mirror)
    assert len(frame.group_names) == 10 and frame.group_names[3] == "Female & Other"
    counts = np.bincount(frame.cell, minlength=20)
    assert counts.sum() == 48_842 and counts.min() == 11 and counts[7] == 11  # Female & Other, >50K
    table = encode_frame("adult-sex_race", frame)
    assert table.features.shape == (48_842, 105)
    split = load_split("adult-sex_race", split=1, test_with_replacement=False, data_dir=session_data_dir,
                       mirror=mirror)
    assert np.bincount(split.test.cell).tolist() == [8] * 20 and np.bincount(split.val.cell).tolist() == [3] * 20


@pytest.mark.mirror
@pytest.mark.parametrize(("setting", "rows", "groups", "cells", "width"), [
    ("compas-race", 5_278, [3_175, 2_103], [1_661, 1_514, 822, 1_281], 14),
    ("compas-sex", 6_172, [1_175, 4_997], [413, 762, 2_396, 2_601], 18),
])
def test_compas_with_the_propublica_filtering(compas_mirror: Path, session_data_dir: Path, setting: str, rows: int,
                                              groups: list[int], cells: list[int], width: int) -> None:
    frame = reference_frame(setting, data_dir=session_data_dir, mirror=compas_mirror)
    assert len(frame.y) == rows and np.bincount(frame.group).tolist() == groups
    assert np.bincount(frame.cell).tolist() == cells
    assert encode_frame(setting, frame).features.shape == (rows, width)
    raw = pd.read_csv(compas_mirror / "compas/compas-scores-two-years.csv")
    assert raw.shape == (7_214, 53)
