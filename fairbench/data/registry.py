"""The registry of datasets and settings: raw files, checksums, groups, split recipe.

The six datasets and seven settings of the paper are written here in Python (their frames and
split files are pinned by the tests). Every other setting is *declared*: a YAML spec (the format
is in :mod:`fairbench.data.declare`) shipped in ``fairbench/data/specs/`` (German credit,
ACSIncome), named by ``$FAIRBENCH_DATA_SPECS`` / ``fairbench data --spec`` / the workflow key
``data.specs``, or added from code with :func:`register`.

The registry imports no other stage of the data layer. Settings that come from elsewhere (declared
specs, the image settings) are added by *loaders*: functions that modules above the registry hand to
:func:`add_loader` when they are imported (:mod:`fairbench.data.catalogue`, which the package
``fairbench.data`` imports, so any import of this module installs them). Every accessor below runs
the loaders first, so it sees those settings too.

Facts of the paper's datasets come from their canonical raw files (docs/datasets.md §2: sha256
and size of every raw file) and the reference frames (row order, labels, group definitions, encoded widths).
Files that live inside a zip archive are pinned by the sha256 of the *member*, because UCI
rebuilds its outer zips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairbench.data.errors import DUPLICATE_NAME, UNKNOWN_DATASET, UNKNOWN_SETTING, SpecError, UnknownSettingError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Parses the raw files of a dataset (keyed by input role) into ``(X, y)``.
Reader = Callable[[Mapping[str, Path]], "tuple[pd.DataFrame, np.ndarray]"]


@dataclass(frozen=True)
class Source:
    """Where a raw file can be downloaded: a URL, plus the member path when it sits in (nested) zips."""

    url: str
    member: tuple[str, ...] = ()


@dataclass(frozen=True)
class RawFile:
    """One pinned raw file; ``relpath`` is its place in the mirror and in the cache."""

    relpath: str
    sha256: str
    size: int | None
    sources: tuple[Source, ...]
    note: str = ""
    local: Path | None = None  # a local file read in place (declared specs with ``source.path``)
    content_keyed: bool = False  # cached under its sha256 (declared downloads: distinct sources never collide)
    origin: str = "built-in"  # the spec file that declared it (names the key to fix in errors)

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def pinned(self) -> bool:
        """Whether a sha256 is given (a declared spec may leave it out to be told the file's hash)."""
        return bool(self.sha256)

    @property
    def cache_relpath(self) -> str:
        """Its place in the cache: ``relpath`` for the registry's own files (distinct by construction);
        ``<folder>/<sha256>/<name>`` for a declared download, so that two specs that name the same
        file differently, or different files the same, never share a cache entry."""
        if not self.content_keyed:
            return self.relpath
        folder = self.relpath.rsplit("/", 1)[0] if "/" in self.relpath else "declared"
        return f"{folder}/{self.sha256}/{self.name}"


@dataclass(frozen=True)
class RawInput:
    """A role a dataset needs filled (e.g. ``"table"``); the first available option wins."""

    role: str
    options: tuple[RawFile, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """A raw dataset: its files, and the shape ``(n_rows, n_columns)`` of ``X`` as read from them.

    ``n_columns`` counts the columns before any setting-specific step (us_crime: 127 read, 102
    after its group steps); ``None`` leaves a size unchecked. ``drop_before_encoding`` /
    ``fillna_before_encoding`` are the reference's extra steps before one-hot encoding (titanic).
    ``display_name`` names the dataset in tables and figures; ``reader`` parses the raw files
    (``None``: the paper dataset's reader in :mod:`fairbench.data.readers`); ``origin`` is
    ``"built-in"`` or the spec file that declared it.
    """

    name: str
    inputs: tuple[RawInput, ...]
    n_rows: int | None
    n_columns: int | None
    label: str
    licence: str
    drop_before_encoding: tuple[str, ...] = ()
    fillna_before_encoding: float | None = None
    display_name: str = ""
    reader: Reader | None = None
    origin: str = "built-in"

    @property
    def files(self) -> tuple[RawFile, ...]:
        return tuple(f for inp in self.inputs for f in inp.options)


@dataclass(frozen=True)
class RowFilter:
    """A condition on one column that a row must meet to be kept (declared specs, key ``filter``).

    ``minimum`` / ``maximum``: inclusive bounds on a numeric column; ``among``: the value is one of
    these; ``excluded``: it is none of these. A missing value never meets a condition, so a filter
    with none of the four keeps exactly the rows where the column has a value.
    """

    column: str
    minimum: float | None = None
    maximum: float | None = None
    among: tuple[Any, ...] = ()
    excluded: tuple[Any, ...] = ()

    def mask(self, frame: "pd.DataFrame") -> "np.ndarray":
        """A boolean array: which rows of ``frame`` meet the condition (the column must exist)."""
        column = frame[self.column]
        keep = column.notna().to_numpy().copy()  # pandas may hand out a read-only view
        if self.minimum is not None or self.maximum is not None:
            values = column.to_numpy(dtype="float64", na_value=float("nan"))
            if self.minimum is not None:
                keep &= values >= self.minimum
            if self.maximum is not None:
                keep &= values <= self.maximum
        if self.among:
            keep &= column.isin(list(self.among)).to_numpy()
        if self.excluded:
            keep &= ~column.isin(list(self.excluded)).to_numpy()
        return keep

    def describe(self) -> str:
        """The condition in words, e.g. ``-30 <= days_b_screening_arrest <= 30``."""
        parts = []
        if self.minimum is not None or self.maximum is not None:
            low = "" if self.minimum is None else f"{self.minimum:g} <= "
            high = "" if self.maximum is None else f" <= {self.maximum:g}"
            parts.append(f"{low}{self.column}{high}")
        if self.among:
            parts.append(f"{self.column} in {list(self.among)}")
        if self.excluded:
            parts.append(f"{self.column} not in {list(self.excluded)}")
        return " and ".join(parts) or f"{self.column} is not missing"


@dataclass(frozen=True)
class GroupSpec:
    """How the sensitive group of a setting is defined.

    Either ``values`` (categorical: group index = position of the raw value, sorted order),
    ``members`` (categorical: group ``i`` holds the raw values ``members[i]``) or ``threshold``
    (two groups: ``attribute <= threshold`` is group 0, ``> threshold`` group 1).
    ``feature`` names a binary group column added to the features; ``drop_attribute`` removes the
    raw attribute; ``drop_missing_columns`` then removes every column with a missing value.
    ``parts`` makes an *intersectional* group: one group per combination of the parts' groups, in
    mixed radix (the first part varies slowest), named ``"<name 1> & <name 2>"``.
    """

    attribute: str
    names: tuple[str, ...]
    values: tuple[Any, ...] = ()
    members: tuple[tuple[Any, ...], ...] = ()
    threshold: float | None = None
    feature: str | None = None
    drop_attribute: bool = False
    drop_missing_columns: bool = False
    parts: tuple["GroupSpec", ...] = ()

    @property
    def kind(self) -> str:
        if self.parts:
            return "intersection"
        return "threshold" if self.threshold is not None else "categorical"


@dataclass(frozen=True)
class SettingSpec:
    """A (dataset, sensitive attribute) pair with its paper split and split recipe.

    Split recipe (:mod:`fairbench.data.indices`): ``val_per_cell`` validation rows per (group,
    label) cell, then ``test_per_cell`` test rows per cell, or ``floor(test_fraction * N / cells)``
    when ``test_per_cell`` is ``None``. ``paper_split`` names the shipped split file; a setting
    without one uses, wherever the paper split is asked for, the split drawn from seed 0 with its
    recipe, test rows drawn with replacement as the caller asks (the paper protocol: with), else
    as ``test_replacement`` says. ``n_features`` (``None``:
    unchecked) is the encoded width. ``hyperparams`` are the declared defaults
    (:func:`fairbench.data.hyperparams.reference_hyperparams`); ``display_name`` names it in tables.
    ``row_filter``: rows of the dataset that this setting keeps (e.g. two of six races), all by default.
    """

    name: str
    dataset: str
    group: GroupSpec
    paper_split: str | None
    val_per_cell: int
    test_fraction: float | None
    n_features: int | None
    test_per_cell: int | None = None
    test_replacement: bool = True
    hyperparams: tuple[tuple[str, Any], ...] = ()
    display_name: str = ""
    origin: str = "built-in"
    row_filter: tuple[RowFilter, ...] = ()

    @property
    def group_names(self) -> list[str]:
        return list(self.group.names)

    @property
    def n_groups(self) -> int:
        return len(self.group.names)

    @property
    def n_cells(self) -> int:
        return 2 * self.n_groups


def _threshold_names(attribute: str, threshold: float) -> tuple[str, str]:
    thr = format(threshold, "g")
    return (f"{attribute}<={thr}", f"{attribute}>{thr}")


_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"
_UCI_STATIC = "https://archive.ics.uci.edu/static/public"
_CC_BY = "CC BY 4.0"

_ADULT_DATA = RawFile(
    relpath="adult/adult.data",
    sha256="5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    size=3_974_305,
    sources=(
        Source(f"{_UCI}/adult/adult.data"),
        Source(f"{_UCI_STATIC}/2/adult.zip", ("adult.data",)),
    ),
)
_ADULT_TEST = RawFile(
    relpath="adult/adult.test",
    sha256="a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    size=2_003_153,
    sources=(
        Source(f"{_UCI}/adult/adult.test"),
        Source(f"{_UCI_STATIC}/2/adult.zip", ("adult.test",)),
    ),
)
_BANK_FULL = RawFile(
    relpath="bank/bank-full.csv",
    sha256="d1513ec63b385506f7cfce9f2c5caa9fe99e7ba4e8c3fa264b3aaf0f849ed32d",
    size=4_610_348,
    sources=(
        Source(f"{_UCI}/00222/bank.zip", ("bank-full.csv",)),
        Source(f"{_UCI_STATIC}/222/bank+marketing.zip", ("bank.zip", "bank-full.csv")),
    ),
)
_CREDIT_XLS = RawFile(
    relpath="default_credit/default of credit card clients.xls",
    sha256="30c6be3abd8dcfd3e6096c828bad8c2f011238620f5369220bd60cfc82700933",
    size=5_539_328,
    sources=(
        Source(f"{_UCI}/00350/default%20of%20credit%20card%20clients.xls"),
        Source(
            f"{_UCI_STATIC}/350/default+of+credit+card+clients.zip",
            ("default of credit card clients.xls",),
        ),
    ),
    note="UCI workbook; header on row 2",
)
_CREDIT_CSV = RawFile(
    relpath="default_credit/UCI_Credit_Card.csv",
    sha256="a0f0ab49d6326671d6cd83be5c88dcf18007025fe9a53ecd699119c871176ca1",
    size=2_862_995,
    sources=(
        Source(
            "https://huggingface.co/datasets/scikit-learn/credit-card-clients/resolve/"
            "f809522649eaf948ad40a11ed575c4bb4d4460c1/UCI_Credit_Card.csv"
        ),
    ),
    note="CSV form of the UCI workbook (same values)",
)
_STUDENT_POR = RawFile(
    relpath="student/student-por.csv",
    sha256="a7594a11d7771c0efe1a740824e0e833da9c4cad07c39a9766a874575563fb3f",
    size=93_220,
    sources=(
        Source(f"{_UCI}/00320/student.zip", ("student-por.csv",)),
        Source(f"{_UCI_STATIC}/320/student+performance.zip", ("student.zip", "student-por.csv")),
    ),
)
_TITANIC_XLS = RawFile(
    relpath="titanic/titanic3.xls",
    sha256="0c26eaf2a8c2221cf1ecc783a32dda97b0a4569096ec196235f529795b257af0",
    size=284_160,
    sources=(Source("https://hbiostat.org/data/repo/titanic3.xls"),),
    note="sheet 1; ages at full precision",
)
_TITANIC_CSV = RawFile(
    relpath="titanic/titanic3.csv",
    sha256="db6df9666818c69a753cd85d743e01502c8518b00579b6aada0d4fc5a66ccb9d",
    size=116_752,
    sources=(Source("https://hbiostat.org/data/repo/titanic3.csv"),),
    note="rounds 9 infant ages to 2 decimals",
)
_COMMUNITIES_DATA = RawFile(
    relpath="communities/communities.data",
    sha256="d90d85bd66bad9a00fa0ed6c15ac017b5966d528e55ba2940ad028d071353f95",
    size=1_100_821,
    sources=(Source(f"{_UCI}/communities/communities.data"),),
)
_COMMUNITIES_NAMES = RawFile(
    relpath="communities/communities.names",
    sha256="80914f24ab37261fb0fbda7e417cad8001335dadda4a8d702c265601ef8434fc",
    size=27_179,
    sources=(Source(f"{_UCI}/communities/communities.names"),),
)

_HBIOSTAT = "Vanderbilt Biostatistics: data courtesy of the Vanderbilt University Department of Biostatistics"

DATASETS: dict[str, DatasetSpec] = {
    d.name: d
    for d in (
        DatasetSpec(
            name="adult",
            display_name="Adult",
            inputs=(RawInput("test", (_ADULT_TEST,)), RawInput("data", (_ADULT_DATA,))),
            n_rows=48_842,
            n_columns=14,
            label="income >50K",
            licence=_CC_BY,
        ),
        DatasetSpec(
            name="bank",
            display_name="Bank",
            inputs=(RawInput("table", (_BANK_FULL,)),),
            n_rows=45_211,
            n_columns=16,
            label='client did not subscribe (y == "no")',
            licence=_CC_BY,
        ),
        DatasetSpec(
            name="default_credit",
            display_name="Default credit",
            inputs=(RawInput("table", (_CREDIT_XLS, _CREDIT_CSV)),),
            n_rows=30_000,
            n_columns=24,
            label="no default next month",
            licence=_CC_BY,
        ),
        DatasetSpec(
            name="student_por",
            display_name="Student-por",
            inputs=(RawInput("table", (_STUDENT_POR,)),),
            n_rows=649,
            n_columns=32,
            label="g3 >= 10",
            licence=_CC_BY,
        ),
        DatasetSpec(
            name="titanic",
            display_name="Titanic",
            inputs=(RawInput("table", (_TITANIC_XLS, _TITANIC_CSV)),),
            n_rows=1_309,
            n_columns=13,
            label="survived == 1",
            licence=_HBIOSTAT,
            drop_before_encoding=("name",),
            fillna_before_encoding=0,
        ),
        DatasetSpec(
            name="us_crime",
            display_name="US crime",
            inputs=(RawInput("data", (_COMMUNITIES_DATA,)), RawInput("names", (_COMMUNITIES_NAMES,))),
            n_rows=1_994,
            n_columns=127,
            label="not high crime (violentcrimesperpop < 0.7)",
            licence=_CC_BY,
        ),
    )
}

_ADULT_RACES = ("Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White")

SETTINGS: dict[str, SettingSpec] = {
    s.name: s
    for s in (
        SettingSpec(
            name="adult-sex",
            dataset="adult",
            group=GroupSpec("sex", names=("Female", "Male"), values=("Female", "Male")),
            paper_split="adult/sex",
            val_per_cell=3,
            test_fraction=0.03,
            n_features=105,
        ),
        SettingSpec(
            name="adult-race",
            dataset="adult",
            group=GroupSpec("race", names=_ADULT_RACES, values=_ADULT_RACES),
            paper_split="adult/race",
            val_per_cell=3,
            test_fraction=0.03,
            n_features=105,
        ),
        SettingSpec(
            name="bank-age",
            dataset="bank",
            group=GroupSpec("age", names=_threshold_names("age", 25), threshold=25),
            paper_split="bank/age",
            val_per_cell=3,
            test_fraction=0.03,
            n_features=51,
        ),
        SettingSpec(
            name="default_credit-sex",
            dataset="default_credit",
            # raw coding of the UCI file: 1 = male, 2 = female; the column stays numeric
            group=GroupSpec("sex", names=("male", "female"), values=(1, 2)),
            paper_split="default_credit/sex",
            val_per_cell=4,
            test_fraction=0.03,
            n_features=24,
        ),
        SettingSpec(
            name="student_por-sex",
            dataset="student_por",
            group=GroupSpec("sex", names=("F", "M"), values=("F", "M")),
            paper_split="student_por/sex",
            val_per_cell=2,
            test_fraction=0.10,
            n_features=58,
        ),
        SettingSpec(
            name="titanic-sex",
            dataset="titanic",
            group=GroupSpec("sex", names=("female", "male"), values=("female", "male")),
            paper_split="titanic/sex",
            val_per_cell=1,
            test_fraction=0.03,
            n_features=1_526,
        ),
        SettingSpec(
            name="us_crime-blackgt6pct",
            dataset="us_crime",
            group=GroupSpec(
                "racepctblack",
                names=_threshold_names("racepctblack", 0.06),
                threshold=0.06,
                feature="blackgt6pct",
                drop_attribute=True,
                drop_missing_columns=True,
            ),
            paper_split="us_crime/blackgt6pct",
            val_per_cell=1,
            test_fraction=0.03,
            n_features=1_929,
        ),
    )
}


def register(dataset: DatasetSpec | None, settings: Iterable[SettingSpec] = ()) -> list[str]:
    """Add a dataset (``None``: settings of a dataset already registered) and its settings; return their names.

    The way to add settings from code (a declared YAML spec goes through
    :func:`fairbench.data.declare.load_spec`). Names must be new: a clash raises :class:`SpecError`
    naming where the first one came from. Registering the same objects again is a no-op.
    """
    settings = list(settings)
    if dataset is not None:
        old = DATASETS.get(dataset.name)
        if old is not None and old != dataset:
            raise SpecError(DUPLICATE_NAME.format(kind="dataset", name=dataset.name, origin=old.origin))
    known = set(DATASETS) | ({dataset.name} if dataset is not None else set())
    for spec in settings:
        old_setting = SETTINGS.get(spec.name)
        if old_setting is not None and old_setting != spec:
            raise SpecError(DUPLICATE_NAME.format(kind="setting", name=spec.name, origin=old_setting.origin))
        if spec.dataset not in known:
            raise UnknownSettingError(UNKNOWN_DATASET.format(name=spec.dataset, valid=", ".join(sorted(known))))
    if dataset is not None:
        DATASETS[dataset.name] = dataset
    for spec in settings:
        SETTINGS[spec.name] = spec
    return [spec.name for spec in settings]


#: Functions that add settings to the registry, run in order before every look-up (each must be cheap
#: when there is nothing new to add); filled by :func:`add_loader`.
_loaders: list[Callable[[], None]] = []


def add_loader(loader: Callable[[], None]) -> None:
    """Run ``loader`` before every look-up from now on (after the loaders added before it; once per function)."""
    if loader not in _loaders:
        _loaders.append(loader)


def _load() -> None:
    """Run the loaders (:mod:`fairbench.data.catalogue`: the shipped specs once, the user's specs whenever
    ``$FAIRBENCH_DATA_SPECS`` changes, the image settings once)."""
    for loader in _loaders:
        loader()


def list_settings() -> list[str]:
    """Names of all settings, in registry order (the paper's seven, then the declared ones)."""
    _load()
    return list(SETTINGS)


def list_datasets() -> list[str]:
    """Names of all datasets, in registry order."""
    _load()
    return list(DATASETS)


def all_settings() -> list[SettingSpec]:
    """Every setting, in registry order."""
    _load()
    return list(SETTINGS.values())


def get_setting(name: str) -> SettingSpec:
    """The setting called ``name``; :class:`UnknownSettingError` lists the valid names otherwise."""
    _load()
    try:
        return SETTINGS[name]
    except (KeyError, TypeError):
        raise UnknownSettingError(UNKNOWN_SETTING.format(name=name, valid=", ".join(SETTINGS))) from None


def get_dataset(name: str) -> DatasetSpec:
    """The dataset called ``name``; :class:`UnknownSettingError` lists the valid names otherwise."""
    _load()
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise UnknownSettingError(UNKNOWN_DATASET.format(name=name, valid=", ".join(DATASETS))) from None


def settings_of(dataset: str) -> list[SettingSpec]:
    """The settings built on ``dataset``."""
    get_dataset(dataset)
    return [s for s in SETTINGS.values() if s.dataset == dataset]


def display_name(setting: str) -> str:
    """How tables and figures name ``setting``: its declared name, else ``"<dataset> (<attribute>)"``.

    ``adult-sex`` -> ``Adult (sex)``; the attribute part is the setting name after the first ``-``.
    """
    spec = get_setting(setting)
    if spec.display_name:
        return spec.display_name
    dataset = get_dataset(spec.dataset)
    title = dataset.display_name or dataset.name
    _, _, attribute = setting.partition("-")
    return f"{title} ({attribute})" if attribute else title
