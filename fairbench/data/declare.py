"""Datasets and settings declared in YAML: parse, validate and register a spec.

One file declares one dataset and its settings (a setting = the dataset with one sensitive
attribute, or several combined). Keys (column names are matched case-insensitively)::

    dataset: german                      # name: letters, digits, '_', '.', '-'
    display_name: German credit          # optional: name in tables ("<display_name> (<attribute>)")
    licence: CC BY 4.0                   # optional
    source:
      url: https://.../german.data       # a canonical URL (zips: add member: [inner/file.csv]) ...
      path: my_data.csv                  # ... or a local file, relative to the spec file, read in place
      sha256: b21f3d81...                # the file is never used with another hash; leave it out once
                                         # to be told the file's hash to paste here
      format: csv                        # csv | parquet | arff | xls | xlsx (default: from the extension)
      file: german/german.data           # optional: place in the mirror (default: <dataset>/<name>)
      size: 79793                        # optional, bytes
      read: {sep: " ", header: false, columns: [...], na_values: ["?"]}   # optional reader options
    rows: 1000                           # optional: expected number of rows after `filter` (checked)
    label: {column: credit_risk, favourable: [1], description: good credit risk}
    filter:                              # optional: rows to keep (every condition must hold; a missing
      - {column: age, min: 18, max: 99}  #   value meets none): min / max (inclusive), in: [...],
      - {column: status, not_in: [X]}    #   not_in: [...]; {column: c} alone keeps the rows where c has a value
    drop: [id]                           # optional: columns removed before encoding ...
    keep: [age, job, sex]                # ... or the only feature columns kept (give one of the two)
    categorical: [job_code]              # optional: numeric codes one-hot encoded as categories
    max_categories: 200                  # optional: most distinct values of a text column (default:
                                         #   half the rows, at least 50, at most 1,000)
    settings:
      - name: german-age
        display_name: German credit (age)          # optional
        sensitive: {column: age, threshold: 25}    # groups age<=25, age>25 (names: [...] optional)
        #          {column: sex, categories: [female, male]}            one group per value
        #          {column: status, categories: {male: [A91, A93], female: [A92, A95]}}
        #          drop: true removes the sensitive column from the features
        #          a list of these: intersectional groups, one per combination ("female & young")
        filter: [{column: race, in: [a, b]}]       # optional: the rows this setting keeps
        features: 61                     # optional: expected encoded width (checked)
        split: {val_per_cell: 2, test_per_cell: 25, replacement: false}   # or test_fraction: 0.1
        #      rows per (group, label) cell; the paper protocol uses the split of seed 0 (test drawn
        #      with replacement), the standard protocol one per seed (without); `replacement` is the
        #      default when neither says (fairbench.data.splits.load_split)
        hyperparameters: {batch_size: 64}   # optional: over fairbench.hparams.DEFAULT_HYPERPARAMS

A spec without ``source`` adds settings to a dataset that is already registered (``dataset: adult``
with only ``settings``). Specs are read with YAML 1.2 booleans: only ``true`` / ``false`` are
booleans, so ``yes``, ``no``, ``on``, ``off``, ``NO`` (Norway) stay text.

Every error names the file and the key. Specs are found in ``fairbench/data/specs/`` (shipped),
in ``$FAIRBENCH_DATA_SPECS`` (files or folders of ``*.yaml``, separated by ``os.pathsep``),
in ``fairbench data --spec PATH`` and in the workflow key ``data.specs``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from fairbench.data.errors import SPEC_INVALID, SPECS_ENV, SpecError
from fairbench.data.errors import DataError
from fairbench.data.registry import (DatasetSpec, GroupSpec, RawFile, RawInput, RowFilter, SettingSpec, Source,
                                     register)
from fairbench.data.tables import FORMAT_OF_EXTENSION, READ_OPTIONS, TableRecipe

SPEC_DIR = Path(__file__).resolve().parent / "specs"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SHA256 = re.compile(r"[0-9a-f]{64}")

_TOP = ("dataset", "display_name", "licence", "source", "rows", "label", "filter", "drop", "keep", "categorical",
        "max_categories", "settings")
_SETTINGS_ONLY = ("dataset", "settings")
_FILTER = ("column", "min", "max", "in", "not_in")
_SOURCE = ("url", "path", "member", "sha256", "format", "file", "size", "read")
_LABEL = ("column", "favourable", "description")
_SETTING = ("name", "display_name", "sensitive", "filter", "features", "split", "hyperparameters")
_SENSITIVE = ("column", "threshold", "categories", "names", "drop")
_SPLIT = ("val_per_cell", "test_per_cell", "test_fraction", "replacement")

_LOADED: set[Path] = set()


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true / false (any case), not yes / no / on / off."""


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
_SEEN_ENV: set[str] = set()
_BUILTINS: list[bool] = []


class _Spec:
    """Error helper: every problem names the spec file and the key."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(SPEC_INVALID.format(path=self.origin, key=key, problem=problem))

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping with keys {', '.join(allowed)}, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                where = f"{key}.{name}" if key else str(name)
                raise self.fail(where, f"unknown key; valid keys: {', '.join(allowed)}")
        for name in required:
            if name not in value or value[name] is None:
                raise self.fail(f"{key}.{name}" if key else name, "required key is missing")
        return dict(value)

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            raise self.fail(key, f"expected a name of letters, digits, '_', '.', '-', got {value!r}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def integer(self, value: Any, key: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        return float(value)

    def columns(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
            raise self.fail(key, f"expected a list of column names, got {value!r}")
        return tuple(c.strip().lower() for c in value)


def load_spec(path: str | os.PathLike[str]) -> tuple[DatasetSpec | None, list[SettingSpec]]:
    """Parse and validate the spec file at ``path`` (nothing is registered); the dataset is ``None``
    for a spec that adds settings to a registered dataset."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SpecError(f"dataset spec {path} does not exist; pass a YAML file or a folder of them")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=SpecLoader)  # noqa: S506 (a safe loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"dataset spec {path}: not readable YAML ({' '.join(str(exc).split())})") from None
    return parse_spec(document, origin=str(path), base=path.parent)


def parse_spec(document: Any, *, origin: str, base: Path) -> tuple[DatasetSpec | None, list[SettingSpec]]:
    """The dataset and settings of a parsed YAML ``document``; ``base`` resolves ``source.path``."""
    s = _Spec(origin)
    if isinstance(document, Mapping) and "source" not in document:  # settings of a registered dataset
        top = s.mapping(document, "", _SETTINGS_ONLY if "label" not in document else _TOP,
                        required=("dataset", "settings") if "label" not in document else ("source",))
        dataset = s.name(top["dataset"], "dataset")
        return None, _settings(s, top["settings"], dataset)
    top = s.mapping(document, "", _TOP, required=("dataset", "source", "label", "settings"))
    dataset = s.name(top["dataset"], "dataset")
    recipe_format, raw = _source(s, top["source"], dataset, base)
    label = s.mapping(top["label"], "label", _LABEL, required=("column", "favourable"))
    favourable = label["favourable"] if isinstance(label["favourable"], list) else [label["favourable"]]
    if not favourable:
        raise s.fail("label.favourable", "expected one or more label values")
    source = s.mapping(top["source"], "source", _SOURCE)
    read = source.get("read") or {}
    if "drop" in top and "keep" in top:
        raise s.fail("keep", "give one of 'drop' (columns removed) or 'keep' (the only columns kept), not both")
    max_categories = top.get("max_categories")
    recipe = TableRecipe(
        dataset=dataset,
        origin=origin,
        format=recipe_format,
        read=tuple(sorted(read.items())),
        label=s.text(label["column"], "label.column").strip().lower(),
        favourable=tuple(favourable),
        drop=s.columns(top.get("drop"), "drop"),
        categorical=s.columns(top.get("categorical"), "categorical"),
        keep=s.columns(top.get("keep"), "keep"),
        filters=_filters(s, top.get("filter"), "filter"),
        max_categories=None if max_categories is None else s.integer(max_categories, "max_categories", 2),
    )
    rows = top.get("rows")
    spec = DatasetSpec(
        name=dataset,
        inputs=(RawInput("table", (raw,)),),
        n_rows=None if rows is None else s.integer(rows, "rows", 1),
        n_columns=None,
        label=str(label.get("description") or f"{recipe.label} in {list(recipe.favourable)}"),
        licence=str(top.get("licence") or "see the source"),
        display_name=s.text(top.get("display_name", dataset), "display_name"),
        reader=recipe,
        origin=origin,
    )
    return spec, _settings(s, top["settings"], dataset)


def _settings(s: _Spec, settings: Any, dataset: str) -> list[SettingSpec]:
    if not isinstance(settings, list) or not settings:
        raise s.fail("settings", "expected a list of one or more settings")
    parsed = [_setting(s, item, f"settings[{i}]", dataset) for i, item in enumerate(settings)]
    names = [p.name for p in parsed]
    if len(set(names)) != len(names):
        raise s.fail("settings", f"setting names repeat: {names}")
    return parsed


def _filters(s: _Spec, value: Any, key: str) -> tuple[RowFilter, ...]:
    """Row conditions: a list of ``{column, min, max, in, not_in}``."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise s.fail(key, "expected a list of conditions such as {column: age, min: 18}")
    out = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        cond = s.mapping(item, where, _FILTER, required=("column",))
        bounds = [None if cond.get(b) is None else s.number(cond[b], f"{where}.{b}") for b in ("min", "max")]
        lists = []
        for name in ("in", "not_in"):
            listed = cond.get(name, [])
            if not isinstance(listed, list) or (name in cond and not listed):
                raise s.fail(f"{where}.{name}", f"expected a list of one or more values, got {listed!r}")
            lists.append(tuple(listed))
        out.append(RowFilter(s.text(cond["column"], f"{where}.column").strip().lower(), bounds[0], bounds[1],
                             lists[0], lists[1]))
    return tuple(out)


def _source(s: _Spec, value: Any, dataset: str, base: Path) -> tuple[str, RawFile]:
    src = s.mapping(value, "source", _SOURCE)
    if ("url" in src) == ("path" in src):
        raise s.fail("source", "give exactly one of 'url' (a download) or 'path' (a local file)")
    sha = src.get("sha256") or ""  # missing: fetching tells the file's hash to paste (acquire.py)
    if not isinstance(sha, str) or (sha and not SHA256.fullmatch(sha.lower())):
        raise s.fail("source.sha256", f"expected 64 hexadecimal digits, got {sha!r}")
    if "url" in src:
        url = s.text(src["url"], "source.url")
        if not re.match(r"(https?|file)://", url):
            raise s.fail("source.url", f"expected an http(s):// or file:// URL, got {url!r}")
        member = src.get("member") or []
        if not isinstance(member, list) or not all(isinstance(m, str) and m.strip() for m in member):
            raise s.fail("source.member", "expected a list of member names (nested zips: outer first)")
        for name in member:
            if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name):
                raise s.fail("source.member", f"expected a path inside the archive, got {name!r}")
        filename = (member[-1] if member else url.rstrip("/")).replace("\\", "/").rsplit("/", 1)[-1]
        if not filename or filename in (".", ".."):
            raise s.fail("source.member" if member else "source.url", "names no file")
        sources, local = (Source(url, tuple(member)),), None
    else:
        local = (base / s.text(src["path"], "source.path")).resolve()
        filename, sources = local.name, ()
    fmt = src.get("format") or FORMAT_OF_EXTENSION.get(Path(filename).suffix.lower())
    if fmt not in READ_OPTIONS:
        raise s.fail("source.format", f"expected one of {', '.join(READ_OPTIONS)}, got {fmt!r}"
                     + ("" if src.get("format") else f" (cannot tell from the file name {filename!r})"))
    read = src.get("read") or {}
    if read and not READ_OPTIONS[fmt]:
        raise s.fail("source.read", f"the {fmt} format takes no reader options")
    s.mapping(read, "source.read", tuple(sorted(READ_OPTIONS[fmt])))
    relpath = src.get("file") or f"{dataset}/{filename}"
    if not isinstance(relpath, str) or relpath.startswith("/") or ".." in Path(relpath).parts:
        raise s.fail("source.file", f"expected a relative path like {dataset}/{filename}, got {relpath!r}")
    size = src.get("size")
    raw = RawFile(relpath=relpath, sha256=sha.lower(), size=None if size is None else s.integer(size, "source.size", 1),
                  sources=sources, local=local, content_keyed=local is None, origin=s.origin)
    return fmt, raw


def _setting(s: _Spec, value: Any, key: str, dataset: str) -> SettingSpec:
    item = s.mapping(value, key, _SETTING, required=("name", "sensitive", "split"))
    name = s.name(item["name"], f"{key}.name")
    group = _sensitive(s, item["sensitive"], f"{key}.sensitive")
    split = s.mapping(item["split"], f"{key}.split", _SPLIT, required=("val_per_cell",))
    if ("test_per_cell" in split) == ("test_fraction" in split):
        raise s.fail(f"{key}.split", "give exactly one of 'test_per_cell' or 'test_fraction'")
    fraction = None
    if "test_fraction" in split:
        fraction = s.number(split["test_fraction"], f"{key}.split.test_fraction")
        if not 0 < fraction < 1:
            raise s.fail(f"{key}.split.test_fraction", f"expected a number in (0, 1), got {fraction!r}")
    replacement = split.get("replacement", False)
    if not isinstance(replacement, bool):
        raise s.fail(f"{key}.split.replacement", f"expected true or false, got {replacement!r}")
    val_per_cell = s.integer(split["val_per_cell"], f"{key}.split.val_per_cell", 1)
    features = item.get("features")
    return SettingSpec(
        name=name,
        dataset=dataset,
        group=group,
        paper_split=None,
        val_per_cell=val_per_cell,
        test_fraction=fraction,
        n_features=None if features is None else s.integer(features, f"{key}.features", 1),
        test_per_cell=(s.integer(split["test_per_cell"], f"{key}.split.test_per_cell", 1)
                       if "test_per_cell" in split else None),
        test_replacement=replacement,
        hyperparams=_hyperparams(s, item.get("hyperparameters"), f"{key}.hyperparameters", val_per_cell),
        display_name="" if item.get("display_name") is None else s.text(item["display_name"], f"{key}.display_name"),
        origin=s.origin,
        row_filter=_filters(s, item.get("filter"), f"{key}.filter"),
    )


def _sensitive(s: _Spec, value: Any, key: str) -> GroupSpec:
    """One attribute (a mapping), or intersectional groups (a list of two or more attributes)."""
    if not isinstance(value, list):
        return _group(s, value, key)
    if len(value) < 2:
        raise s.fail(key, "expected one attribute (a mapping) or a list of two or more to combine")
    parts = tuple(_group(s, item, f"{key}[{i}]") for i, item in enumerate(value))
    columns = [part.attribute for part in parts]
    if len(set(columns)) != len(columns):
        raise s.fail(key, f"an attribute repeats: {columns}")
    names: list[str] = [""]
    for part in parts:
        names = [f"{prefix} & {name}" if prefix else name for prefix in names for name in part.names]
    return GroupSpec(" & ".join(columns), names=tuple(names), parts=parts)


def _group(s: _Spec, value: Any, key: str) -> GroupSpec:
    sens = s.mapping(value, key, _SENSITIVE, required=("column",))
    column = s.text(sens["column"], f"{key}.column").strip().lower()
    if ("threshold" in sens) == ("categories" in sens):
        raise s.fail(key, "give exactly one of 'threshold' (two groups: <= and >) or 'categories'")
    drop = sens.get("drop", False)
    if not isinstance(drop, bool):
        raise s.fail(f"{key}.drop", f"expected true or false, got {drop!r}")
    names = sens.get("names")
    if "threshold" in sens:
        threshold = s.number(sens["threshold"], f"{key}.threshold")
        thr = format(threshold, "g")
        default = (f"{column}<={thr}", f"{column}>{thr}")
        return GroupSpec(column, names=_names(s, names, default, f"{key}.names"), threshold=threshold,
                         drop_attribute=drop)
    categories = sens["categories"]
    if isinstance(categories, Mapping):
        if len(categories) < 2:
            raise s.fail(f"{key}.categories", "expected at least two groups")
        members = []
        for group, raw in categories.items():
            vals = raw if isinstance(raw, list) else [raw]
            if not vals:
                raise s.fail(f"{key}.categories.{group}", "expected one or more raw values")
            members.append(tuple(vals))
        flat = [v for m in members for v in m]
        if len(set(map(repr, flat))) != len(flat):
            raise s.fail(f"{key}.categories", "a raw value belongs to more than one group")
        default = tuple(str(g) for g in categories)
        return GroupSpec(column, names=_names(s, names, default, f"{key}.names"), members=tuple(members),
                         drop_attribute=drop)
    if not isinstance(categories, list) or len(categories) < 2 or len(set(map(repr, categories))) != len(categories):
        raise s.fail(f"{key}.categories", "expected a list of two or more distinct values, or a mapping "
                                          "group name -> list of values")
    default = tuple(str(v) for v in categories)
    return GroupSpec(column, names=_names(s, names, default, f"{key}.names"), members=tuple((v,) for v in categories),
                     drop_attribute=drop)


def _names(s: _Spec, names: Any, default: tuple[str, ...], key: str) -> tuple[str, ...]:
    if names is None:
        return default
    if not isinstance(names, list) or len(names) != len(default) or not all(isinstance(n, str) for n in names):
        raise s.fail(key, f"expected a list of {len(default)} group names, got {names!r}")
    if len(set(names)) != len(names):
        raise s.fail(key, f"group names repeat: {names}")
    return tuple(names)


def _hyperparams(s: _Spec, value: Any, key: str, val_per_cell: int) -> tuple[tuple[str, Any], ...]:
    """Declared hyper-parameters, typed by :class:`fairbench.hparams.HyperParams` and validated."""
    from fairbench.hparams import DEFAULT_HYPERPARAMS, HyperParams

    if value is None:
        return ()
    given = s.mapping(value, key, tuple(f.name for f in fields(HyperParams)))
    kinds = {f.name: str(f.type) for f in fields(HyperParams)}
    typed: dict[str, Any] = {}
    for name, raw in given.items():
        kind = kinds[name]
        try:
            if isinstance(raw, bool):
                raise ValueError
            if kind == "int":
                number = float(raw)
                if not number.is_integer():
                    raise ValueError
                typed[name] = int(number)
            else:
                typed[name] = {"float": float, "str": str}[kind](raw)
        except (TypeError, ValueError):
            raise s.fail(f"{key}.{name}", f"expected a {kind}, got {raw!r}") from None
    try:
        DEFAULT_HYPERPARAMS.override(val_per_cell=val_per_cell, **typed)
    except (TypeError, ValueError) as exc:
        raise s.fail(key, str(exc)) from None
    return tuple(sorted(typed.items()))


def spec_files(location: str | os.PathLike[str]) -> list[Path]:
    """The spec files at ``location``: the file itself, or a folder's ``*.yaml`` / ``*.yml`` in name order."""
    path = Path(location).expanduser()
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.is_file():
        raise SpecError(f"dataset spec {path} does not exist; pass a YAML file or a folder of them")
    return [path]


def load_specs(locations: Iterable[str | os.PathLike[str]], *, broken: dict[Path, str] | None = None) -> list[str]:
    """Register every spec at ``locations`` (files or folders; each file once); return the new setting names.

    With ``broken`` (a dict), a spec that cannot be loaded is recorded there (path -> one-line error)
    and the others are still registered; without it, the first error is raised (``fairbench data list``
    goes on, every other command stops).
    """
    names: list[str] = []
    for location in locations:
        try:
            paths = spec_files(location)
        except DataError as exc:
            if broken is None:
                raise
            _record(broken, Path(location).expanduser().resolve(), exc)
            continue
        for path in paths:
            key = path.resolve()
            if key in _LOADED:
                continue
            try:
                dataset, settings = load_spec(key)
                names += register(dataset, settings)
            except DataError as exc:
                if broken is None:
                    raise
                _record(broken, key, exc)
                continue
            _LOADED.add(key)
    return names


def _record(broken: dict[Path, str], path: Path, error: Exception) -> None:
    broken[path] = " ".join(str(error).split())


def load_declared(broken: dict[Path, str] | None = None) -> None:
    """Register the shipped specs (once) and those named by ``$FAIRBENCH_DATA_SPECS`` (when it changes);
    ``broken``: go on past specs that cannot be loaded (:func:`load_specs`)."""
    if not _BUILTINS:
        _BUILTINS.append(True)
        load_specs([SPEC_DIR])
    value = os.environ.get(SPECS_ENV, "")
    if value and value not in _SEEN_ENV:
        before = len(broken) if broken is not None else 0
        load_specs((p for p in value.split(os.pathsep) if p), broken=broken)
        if broken is None or len(broken) == before:  # a broken spec is tried again by the next look-up
            _SEEN_ENV.add(value)


def use_specs(locations: Iterable[str | os.PathLike[str]], *, broken: dict[Path, str] | None = None) -> list[str]:
    """Register specs and add them to ``$FAIRBENCH_DATA_SPECS``, so that child processes see them too."""
    paths = [str(Path(p).expanduser().resolve()) for p in locations]
    load_declared(broken)
    names = load_specs(paths, broken=broken)
    current = [p for p in os.environ.get(SPECS_ENV, "").split(os.pathsep) if p]
    value = os.pathsep.join(current + [p for p in paths if p not in current])
    if value:
        os.environ[SPECS_ENV] = value
        _SEEN_ENV.add(value)
    return names
