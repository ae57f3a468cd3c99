"""Image settings: coloured digits (offline, :mod:`fairbench.data.images.digits`) and CelebA
(official files from a local folder, :mod:`fairbench.data.images.celeba`).

They are registered like every other setting (:func:`fairbench.data.registry.register`), so names,
hyper-parameters, the workflow and the reports treat them alike; the data layer hands their
preparation and their splits to this package through :func:`find_image_handler` (a finder of
:mod:`fairbench.data.handlers`). This package sits above the pipeline and imports only downwards;
:mod:`fairbench.data.catalogue` hands :func:`register_images` to the registry and
:func:`find_image_handler` to the pipeline, so neither imports it. Their data keeps the shared
convention: ``X`` is ``(n, C*H*W)`` float32 in ``[0, 1]`` (:mod:`fairbench.data.images.table`),
``SplitData.input_shape`` and the prepared manifest give ``(C, H, W)``, and each setting's default
model is one of its hyper-parameters (``cnn`` for the digits, ``resnet18`` for CelebA).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairbench.data.acquire import resolve_data_dir, resolve_mirror
from fairbench.data.handlers import SettingHandler
from fairbench.data.images import celeba, digits
from fairbench.data.images.table import ImageTable, read_image_table
from fairbench.data.registry import DatasetSpec, GroupSpec, SettingSpec, register
from fairbench.data.splits import SplitData

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ImageSetting:
    """What the data layer needs of an image setting: how to build its table and draw its splits.

    ``build(data_dir=, mirror=) -> ImageTable`` builds the table from the source;
    ``prepare_to(out_dir, data_dir=, mirror=) -> Path`` writes it prepared;
    ``split(table, split=, test_with_replacement=, val_per_cell=) -> SplitData``;
    ``available(data_dir, mirror) -> bool`` says whether the source files are at hand (``fairbench data list``).
    """

    spec: SettingSpec
    input_shape: tuple[int, int, int]
    prepare_to: Callable[..., Path]
    split: Callable[..., SplitData]
    build: Callable[..., ImageTable]
    available: Callable[[PathLike | None, PathLike | None], bool]


IMAGE_SETTINGS: dict[str, ImageSetting] = {}
_TABLES: dict[tuple[str, str, str], Any] = {}


def image_setting(name: str) -> ImageSetting | None:
    """The image setting called ``name``, or ``None`` for a tabular setting."""
    register_images()
    return IMAGE_SETTINGS.get(name)


def _digits() -> tuple[DatasetSpec, list[ImageSetting]]:
    dataset = DatasetSpec(name=digits.DATASET, inputs=(), n_rows=2 * digits.N_IMAGES, n_columns=None,
                          label=digits.LABEL_DESCRIPTION, licence="CC BY 4.0 (UCI optical recognition of "
                          "handwritten digits, as bundled with scikit-learn)", display_name="Coloured digits")
    spec = SettingSpec(name=digits.SETTING, dataset=digits.DATASET,
                       group=GroupSpec("colour", names=digits.GROUP_NAMES, values=(0, 1)),
                       paper_split=None, val_per_cell=digits.VAL_PER_CELL, test_fraction=None,
                       n_features=math.prod(digits.INPUT_SHAPE), test_per_cell=digits.TEST_PER_CELL, test_replacement=True,
                       hyperparams=digits.HYPERPARAMS, display_name="Coloured digits (colour)")
    setting = ImageSetting(
        spec=spec, input_shape=digits.INPUT_SHAPE,
        prepare_to=lambda out_dir, **_: digits.prepare(out_dir),
        split=digits.load_split,
        build=lambda **_: digits.coloured_table(),
        available=lambda data_dir, mirror: True,  # bundled with scikit-learn
    )
    return dataset, [setting]


def _celeba_setting(option: celeba.CelebASetting) -> ImageSetting:
    spec = SettingSpec(name=option.name, dataset=celeba.DATASET,
                       group=GroupSpec(option.group, names=tuple(option.group_names), values=(0, 1)),
                       paper_split=None, val_per_cell=celeba.VAL_PER_CELL, test_fraction=None,
                       n_features=3 * option.image_size ** 2, test_replacement=True,
                       hyperparams=celeba.HYPERPARAMS,
                       display_name=f"CelebA ({option.label}, {option.group})")
    return ImageSetting(
        spec=spec, input_shape=option.input_shape,
        prepare_to=option.prepare,
        split=option.load_split,
        build=lambda **kw: option.build_table(**kw),
        available=lambda data_dir, mirror: celeba.files_present(
            celeba.CelebAFiles(celeba.resolve_root(data_dir=data_dir, mirror=mirror))),
    )


def _celeba() -> tuple[DatasetSpec, list[ImageSetting]]:
    dataset = DatasetSpec(name=celeba.DATASET, inputs=(), n_rows=celeba.N_IMAGES, n_columns=None,
                          label="a binary face attribute (Smiling by default)",
                          licence="CelebA: non-commercial research use only", display_name="CelebA")
    return dataset, [_celeba_setting(option) for option in celeba.SETTINGS]


def register_celeba(label: str, group: str, image_size: int = 64) -> str:
    """Register the CelebA setting with attributes ``label`` and ``group`` (two of the 40) at ``image_size``
    (square); return its name (``celeba_<label>-<group>``, ``celeba<size>_...`` when not 64).

    The attribute names are checked when the setting's data is built (they are read from the file).
    """
    if label == group:
        raise ValueError(f"celeba: label and group must differ (both {label!r})")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"celeba: image_size must be an integer >= 8, got {image_size!r}")
    register_images()
    setting = _celeba_setting(celeba.CelebASetting(label, group, image_size))
    if setting.spec.name not in IMAGE_SETTINGS:
        register(None, [setting.spec])
        IMAGE_SETTINGS[setting.spec.name] = setting
    return setting.spec.name


def register_images() -> None:
    """Register the image settings with the data registry (once; later calls do nothing)."""
    if IMAGE_SETTINGS:
        return
    for make in (_digits, _celeba):
        dataset, settings = make()
        register(dataset, [s.spec for s in settings])
        IMAGE_SETTINGS.update({s.spec.name: s for s in settings})


def image_table(name: str, *, prepared_dir: PathLike | None = None, data_dir: PathLike | None = None,
                mirror: PathLike | None = None) -> ImageTable:
    """The table of image setting ``name``: from ``prepared_dir`` if given, else built (memoised per process)."""
    setting = IMAGE_SETTINGS[name]
    if prepared_dir is not None:
        return read_image_table(prepared_dir, name, group_names=setting.spec.group_names,
                                input_shape=setting.input_shape)
    key = (name, str(resolve_data_dir(data_dir)), str(resolve_mirror(mirror)))
    if key not in _TABLES:
        _TABLES[key] = setting.build(data_dir=data_dir, mirror=mirror)
    return _TABLES[key]


def load_image_split(name: str, *, split: str | int = "paper", test_with_replacement: bool | None = None,
                     val_per_cell: int | None = None, prepared_dir: PathLike | None = None,
                     data_dir: PathLike | None = None, mirror: PathLike | None = None) -> SplitData:
    """:func:`fairbench.data.load_split` for an image setting (features in [0, 1]; no scaler is fit)."""
    table = image_table(name, prepared_dir=prepared_dir, data_dir=data_dir, mirror=mirror)
    return IMAGE_SETTINGS[name].split(table, split=split, test_with_replacement=test_with_replacement,
                                      val_per_cell=val_per_cell)


def prepare_image_setting(name: str, out_dir: PathLike, *, data_dir: PathLike | None = None,
                          mirror: PathLike | None = None) -> Path:
    """Write the prepared table (Parquet + manifest) of image setting ``name``; return the Parquet path."""
    return IMAGE_SETTINGS[name].prepare_to(out_dir, data_dir=data_dir, mirror=mirror)


#: How the pipeline prepares and splits every image setting (:mod:`fairbench.data.handlers`).
IMAGE_HANDLER = SettingHandler(prepare=prepare_image_setting, load_split=load_image_split)


def find_image_handler(name: str) -> SettingHandler | None:
    """:data:`IMAGE_HANDLER` if ``name`` is an image setting (registering them first), else ``None``."""
    return IMAGE_HANDLER if image_setting(name) is not None else None
