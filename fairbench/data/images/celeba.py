"""CelebA (Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015) from its
official files, as image settings: a binary attribute as the label, another as the group.

Files (the official release, https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "Align&Cropped
Images" and "Anno" / "Eval" folders; the site links to Google Drive, which cannot be fetched
without a browser, so the files are read from a local folder):

* ``list_attr_celeba.txt``: the image count, the 40 attribute names, then one line per image
  (``000001.jpg`` and 40 values in {-1, 1});
* ``list_eval_partition.txt``: one line per image, ``0`` train, ``1`` validation, ``2`` test;
* ``img_align_celeba/*.jpg``: the 202,599 aligned 178 x 218 JPEGs (unzipped ``img_align_celeba.zip``).

The folder is ``root=``, else ``$FAIRBENCH_CELEBA_DIR``, else ``celeba/`` in the mirror
(``$FAIRBENCH_DATA_MIRROR``), else ``celeba/`` in the raw-file cache. Checksums: the two text
files are pinned by the MD5 sums that torchvision's CelebA dataset class checks (``PINNED_MD5``;
no sha256 of them is published); a file with another MD5 is refused before any image is read.
Their sha256 is recorded in the prepared manifest. The JPEGs are not pinned one by one:
every image listed must exist and decode, and the prepared manifest records the sha256 of the
preprocessed pixels (in the Parquet file's sha256).

Preprocessing: RGB, centre crop to a square (178 x 178 for the aligned images), resize to
``image_size`` x ``image_size`` (Pillow bilinear, antialiased; 64 by default), stored as ``uint8``
(202,599 x 3 x 64 x 64 = 2.5 GB; training reads them as float32 in [0, 1], 4 bytes a value).

Split (from a seed): training = every image of the official training partition; validation =
``val_per_cell`` images per (group, label) cell drawn from the official validation partition; test
= as many images per cell as the smallest cell of the official test partition holds, drawn from the
official test partition without replacement (the standard protocol) or with replacement. The paper
protocol has no split file here: its split is the one of seed ``PAPER_SPLIT_SEED = 0``, test rows
with replacement (as in the paper's split files), shared by every training seed (``fixed-seed0``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairbench.data.acquire import resolve_data_dir, resolve_mirror, sha256_file
from fairbench.data.errors import (SPLIT_INVALID, ChecksumError, DataUnavailableError, FrameError, SplitError)
from fairbench.data.images.table import ImageTable, resolve_split, split_data, write_image_table
from fairbench.data.indices import SplitIndices
from fairbench.data.splits import FIXED_SEED, PAPER, SplitData, split_name

DATASET = "celeba"
CELEBA_DIR_ENV = "FAIRBENCH_CELEBA_DIR"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGES_FOLDER = "img_align_celeba"
#: MD5 of the official text files, as torchvision's CelebA class pins them (read at call time).
PINNED_MD5: dict[str, str] = {
    ATTRIBUTES_FILE: "75e246fa4810816ffd6ee81facbd244c",
    PARTITION_FILE: "d32c9cbf5e040fd4025c592c306e6668",
}
N_IMAGES = 202_599
N_ATTRIBUTES = 40
IMAGE_SIZE = 64
VAL_PER_CELL = 10
PAPER_SPLIT_SEED = FIXED_SEED
TRAIN, VALIDATION, TEST = 0, 1, 2
#: Default hyper-parameters for a GPU (config/celeba.yaml); any can be overridden as usual.
HYPERPARAMS: tuple[tuple[str, object], ...] = (
    ("model", "resnet18"), ("lr", 0.01), ("dropout", 0.0), ("batch_size", 128), ("epochs", 10),
    ("bargain_epochs", 3),
)
PathLike = str | os.PathLike[str]

NOT_FOUND = ("celeba: {what} not found at {path}. Put the official files ({attributes}, {partition}, "
             "{images}/) in one folder and set " + CELEBA_DIR_ENV + " to it (README.md, \"Image tasks\")")
MD5_MISMATCH = ("celeba: {path} has MD5 {actual}, the official file has {expected}; it was not used. "
                "Use the unmodified official file")
BAD_FILE = "celeba: {path} line {line}: {problem}"
UNKNOWN_ATTRIBUTE = "celeba: unknown attribute {name!r}; valid: {valid}"


@dataclass(frozen=True)
class CelebAFiles:
    """The official files in ``root``."""

    root: Path

    @property
    def attributes(self) -> Path:
        return self.root / ATTRIBUTES_FILE

    @property
    def partition(self) -> Path:
        return self.root / PARTITION_FILE

    @property
    def images(self) -> Path:
        return self.root / IMAGES_FOLDER


@dataclass(frozen=True)
class Annotations:
    """Image file names, attribute names, attributes (``int8`` in {-1, 1}, n x 40), official partition."""

    files: list[str]
    names: list[str]
    values: np.ndarray
    partition: np.ndarray

    def column(self, name: str) -> np.ndarray:
        """0/1 (``int64``) values of attribute ``name``."""
        if name not in self.names:
            raise ValueError(UNKNOWN_ATTRIBUTE.format(name=name, valid=", ".join(self.names)))
        return (self.values[:, self.names.index(name)] > 0).astype(np.int64)


def resolve_root(root: str | os.PathLike[str] | None = None, *, data_dir: str | os.PathLike[str] | None = None,
                 mirror: str | os.PathLike[str] | None = None) -> Path:
    """The CelebA folder: ``root``, ``$FAIRBENCH_CELEBA_DIR``, ``<mirror>/celeba``, ``<cache>/celeba``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(CELEBA_DIR_ENV):
        return Path(os.environ[CELEBA_DIR_ENV]).expanduser()
    mirror_dir = resolve_mirror(mirror)
    if mirror_dir is not None and (mirror_dir / DATASET).is_dir():
        return mirror_dir / DATASET
    return resolve_data_dir(data_dir) / DATASET


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_present(files: CelebAFiles) -> bool:
    """Whether both text files and the image folder exist (no checksum: cheap)."""
    return files.attributes.is_file() and files.partition.is_file() and files.images.is_dir()


def verify(files: CelebAFiles) -> dict[str, str]:
    """Check that the files exist and the text files have their MD5; return ``{relpath: sha256}``."""
    for what, path in (("attribute list", files.attributes), ("partition list", files.partition),
                       ("image folder", files.images)):
        if not (path.is_dir() if what == "image folder" else path.is_file()):
            raise DataUnavailableError(NOT_FOUND.format(what=what, path=path, attributes=ATTRIBUTES_FILE,
                                                        partition=PARTITION_FILE, images=IMAGES_FOLDER))
    for path in (files.attributes, files.partition):
        expected, actual = PINNED_MD5[path.name], md5_file(path)
        if actual != expected:
            raise ChecksumError(MD5_MISMATCH.format(path=path, actual=actual, expected=expected))
    return {f"{DATASET}/{p.name}": sha256_file(p) for p in (files.attributes, files.partition)}


def read_annotations(files: CelebAFiles) -> Annotations:
    """Parse the attribute and partition lists (same images, same order) with one-line errors."""
    lines = files.attributes.read_text(encoding="ascii").splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise FrameError(BAD_FILE.format(path=files.attributes, line=1, problem="expected the image count"))
    count, names = int(lines[0]), lines[1].split()
    if len(names) != N_ATTRIBUTES or len(set(names)) != len(names):
        raise FrameError(BAD_FILE.format(path=files.attributes, line=2,
                                         problem=f"expected {N_ATTRIBUTES} distinct attribute names"))
    rows = [line.split() for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise FrameError(BAD_FILE.format(path=files.attributes, line=1,
                                         problem=f"says {count} images, the file lists {len(rows)}"))
    for i, row in enumerate(rows):
        if len(row) != N_ATTRIBUTES + 1 or any(v not in ("1", "-1") for v in row[1:]):
            raise FrameError(BAD_FILE.format(path=files.attributes, line=i + 3,
                                             problem=f"expected a file name and {N_ATTRIBUTES} values in {{-1, 1}}"))
    names_in_order = [row[0] for row in rows]
    values = np.array([row[1:] for row in rows], dtype=np.int8) if rows else np.zeros((0, N_ATTRIBUTES), np.int8)
    part_rows = [line.split() for line in files.partition.read_text(encoding="ascii").splitlines() if line.strip()]
    if [r[0] for r in part_rows] != names_in_order:
        raise FrameError(BAD_FILE.format(path=files.partition, line=1,
                                         problem=f"its images differ from those of {ATTRIBUTES_FILE}"))
    bad = [i for i, r in enumerate(part_rows) if len(r) != 2 or r[1] not in ("0", "1", "2")]
    if bad:
        raise FrameError(BAD_FILE.format(path=files.partition, line=bad[0] + 1,
                                         problem="expected a file name and 0, 1 or 2"))
    partition = np.array([int(r[1]) for r in part_rows], dtype=np.int64)
    return Annotations(files=names_in_order, names=names, values=values, partition=partition)


def load_image(path: Path, size: int) -> np.ndarray:
    """One image as ``uint8`` ``(3, size, size)``: RGB, centre square crop, bilinear resize."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    resized = square.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)


def _load_chunk(args: tuple[Path, Sequence[str], int]) -> np.ndarray:
    folder, names, size = args
    out = np.empty((len(names), 3, size, size), dtype=np.uint8)
    for i, name in enumerate(names):
        path = folder / name
        try:
            out[i] = load_image(path, size)
        except (OSError, ValueError) as exc:
            raise DataUnavailableError(f"celeba: cannot read image {path} ({exc}); restore it from the official "
                                       f"{IMAGES_FOLDER}.zip") from None
    return out


def load_images(folder: Path, names: Sequence[str], size: int, *, workers: int | None = None,
                chunk: int = 2_000) -> np.ndarray:
    """Every listed image, preprocessed, in list order (``workers`` processes, default all cores; 1 = in
    this process; ``chunk`` images per task)."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataUnavailableError(f"celeba: {len(missing)} listed images are missing from {folder} (first: "
                                   f"{missing[0]}); unzip the complete official {IMAGES_FOLDER}.zip there")
    workers = workers or len(os.sched_getaffinity(0))
    jobs = [(folder, list(names[i:i + chunk]), size) for i in range(0, len(names), chunk)]
    out = np.empty((len(names), 3, size, size), dtype=np.uint8)  # filled in place: no second copy
    if workers <= 1 or len(jobs) <= 1:
        parts = map(_load_chunk, jobs)
        for start, part in zip(range(0, len(names), chunk), parts):
            out[start:start + len(part)] = part
        return out
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        for start, part in zip(range(0, len(names), chunk), pool.map(_load_chunk, jobs)):
            out[start:start + len(part)] = part
    return out


@dataclass(frozen=True)
class CelebASetting:
    """One CelebA setting: label attribute, group attribute, image size."""

    label: str = "Smiling"
    group: str = "Male"
    image_size: int = IMAGE_SIZE

    @property
    def name(self) -> str:
        """``celeba_<label>-<group>`` in lower case (``celeba_smiling-male``); ``celeba<size>_...`` if not 64."""
        size = "" if self.image_size == IMAGE_SIZE else str(self.image_size)
        return f"{DATASET}{size}_{self.label.lower()}-{self.group.lower()}"

    @property
    def group_names(self) -> list[str]:
        """``[not <group>, <group>]`` (attribute value -1, then 1); Male gives ``[Female, Male]``."""
        return ["Female", "Male"] if self.group == "Male" else [f"not {self.group}", self.group]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    def build(self, files: CelebAFiles, *, workers: int | None = None) -> tuple[ImageTable, dict[str, str]]:
        """Verify the files, read the annotations and every image; return the table and the sha256 record."""
        if self.label == self.group:
            raise ValueError(f"celeba: label and group must differ (both {self.label!r})")
        raw = verify(files)
        notes = read_annotations(files)
        y, group = notes.column(self.label), notes.column(self.group)
        pixels = load_images(files.images, notes.files, self.image_size, workers=workers)
        image = np.array([int(Path(n).stem) if Path(n).stem.isdigit() else i for i, n in enumerate(notes.files)],
                         dtype=np.int64)
        table = ImageTable(setting=self.name, pixels=pixels, max_value=255, y=y, group=group,
                           group_names=self.group_names, image=image, partition=notes.partition)
        return table, raw

    def build_table(self, *, root: PathLike | None = None, data_dir: PathLike | None = None,
                    mirror: PathLike | None = None, workers: int | None = None) -> ImageTable:
        """The table built from the official files in the resolved folder (:func:`resolve_root`)."""
        return self.build(CelebAFiles(resolve_root(root, data_dir=data_dir, mirror=mirror)), workers=workers)[0]

    def prepare(self, out_dir: PathLike, *, root: PathLike | None = None, data_dir: PathLike | None = None,
                mirror: PathLike | None = None, files: CelebAFiles | None = None,
                workers: int | None = None) -> Path:
        """Build the table from the official files and write it (Parquet + manifest) to ``out_dir``."""
        files = files or CelebAFiles(resolve_root(root, data_dir=data_dir, mirror=mirror))
        table, raw = self.build(files, workers=workers)
        recipe = {"label": f"{self.label} == 1", "group": f"{self.group} (-1 -> 0, 1 -> 1)",
                  "preprocessing": f"RGB, centre square crop, bilinear resize to {self.image_size}",
                  "val_per_cell": "from the official validation partition",
                  "test_per_cell": "smallest cell of the official test partition",
                  "paper_split_seed": PAPER_SPLIT_SEED}
        return write_image_table(table, out_dir, dataset=DATASET, raw_files=raw, recipe=recipe)

    def load_split(self, table: ImageTable, *, split: str | int = PAPER, test_with_replacement: bool | None = None,
                   val_per_cell: int | None = None) -> SplitData:
        """The split of ``table``: ``"paper"`` (seed 0, test rows with replacement) or an integer seed
        (:func:`fairbench.data.images.table.resolve_split`)."""
        req = resolve_split(split, test_with_replacement, val_per_cell, VAL_PER_CELL)
        indices = draw_split(table, req.seed, val_per_cell=req.val_per_cell,
                             test_with_replacement=req.test_with_replacement, name=req.name)
        return split_data(table, indices, req.name)


#: The registered CelebA settings: Smiling (the default label) and Attractive, each by Male and by Young.
SETTINGS: tuple[CelebASetting, ...] = tuple(CelebASetting(label, group) for label in ("Smiling", "Attractive")
                                            for group in ("Male", "Young"))


def draw_split(table: ImageTable, seed: int, *, val_per_cell: int = VAL_PER_CELL,
               test_with_replacement: bool = False, name: str | None = None) -> SplitIndices:
    """Official training partition; balanced validation and test cells drawn from the official ones
    (``name`` names the split in errors)."""
    rng = np.random.default_rng(seed)
    n_cells = 2 * table.n_groups
    cells = table.cell
    name = name or split_name(seed, test_with_replacement)

    def pools(partition: int) -> list[np.ndarray]:
        return [np.flatnonzero((table.partition == partition) & (cells == c)) for c in range(n_cells)]

    val_pools, test_pools = pools(VALIDATION), pools(TEST)
    for what, group_pools, need in (("validation", val_pools, val_per_cell), ("test", test_pools, 1)):
        small = [c for c, rows in enumerate(group_pools) if len(rows) < max(need, 1)]
        if small:
            detail = (f"the official {what} partition has {len(group_pools[small[0]])} rows in cell {small[0]}, "
                      f"needs {max(need, 1)}")
            raise SplitError(SPLIT_INVALID.format(split=name, setting=table.setting, detail=detail))
    per_cell = min(len(rows) for rows in test_pools)
    val = np.concatenate([rng.choice(rows, size=val_per_cell, replace=False) for rows in val_pools])
    test = np.concatenate([rng.choice(rows, size=per_cell, replace=test_with_replacement) for rows in test_pools])
    train = np.flatnonzero(table.partition == TRAIN)
    return SplitIndices(train=train.astype(np.int64), val=val.astype(np.int64), test=test.astype(np.int64))
