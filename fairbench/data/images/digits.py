"""Coloured digits: an offline image task with a spurious colour, in the spirit of Colored MNIST
(Arjovsky, Bottou, Gulrajani, Lopez-Paz, "Invariant Risk Minimization", 2019, arXiv:1907.02893).

Source: the 1,797 handwritten digits of scikit-learn's bundled ``load_digits`` (8 x 8 images,
values 0..16; no network), pinned by the sha256 of their pixel and digit arrays.

Recipe (every number below is a module constant):

* label ``y = 1`` iff the digit is ``>= 5`` (901 images with y = 0, 896 with y = 1);
* group = colour: group 0 ``red`` draws the digit in channel 0, group 1 ``green`` in channel 1; the
  other channel is zero, so an image is ``(2, 8, 8)`` and a feature row has 128 values in ``[0, 1]``
  (pixel / 16);
* the table holds every image in both colours (3,594 rows; row ``2 * i + c`` is image ``i`` in
  colour ``c``); a split picks at most one row per image, so no image appears in two parts;
* a split drawn from ``seed`` (``numpy.random.default_rng(seed)``): for each label, the images of
  that label in a random order; the first ``2 * val_per_cell`` go to validation (``val_per_cell``
  red, then as many green), the next ``2 * TEST_PER_CELL`` to test (likewise), so validation and
  test are balanced: colour is independent of the label there. Every other image is a training
  image whose colour agrees with its label (green for y = 1, red for y = 0) with probability
  ``TRAIN_CORRELATION = 0.9``: colour predicts the label in training (about 90 % of the time) and
  not at all at test time. With ``test_with_replacement`` the test rows of a cell are drawn with
  replacement from the cell's ``TEST_PER_CELL`` test images (rows repeat, as in the paper's
  tabular split files);
* **paper protocol**: no reference split exists for this task, so its "paper" split is the split
  drawn from ``PAPER_SPLIT_SEED = 0`` with the default recipe and test rows drawn with replacement
  (as in the paper's split files), shared by every training seed; its split name is
  ``fixed-seed0``, as for every setting without a split file. The standard protocol draws one
  split per seed, test rows without replacement.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fairbench.data.errors import FRAME_MISMATCH, SPLIT_INVALID, FrameError, SplitError
from fairbench.data.images.table import NO_PARTITION, ImageTable, resolve_split, split_data, write_image_table
from fairbench.data.indices import SplitIndices
from fairbench.data.splits import FIXED_SEED, PAPER, SplitData, split_name

SETTING = "digits-colour"
DATASET = "digits"
GROUP_NAMES: tuple[str, str] = ("red", "green")
INPUT_SHAPE: tuple[int, int, int] = (2, 8, 8)
MAX_VALUE = 16
LABEL_THRESHOLD = 5
TRAIN_CORRELATION = 0.9
VAL_PER_CELL = 5
TEST_PER_CELL = 100
PAPER_SPLIT_SEED = FIXED_SEED
N_IMAGES = 1_797
#: sha256 of ``load_digits().images.astype(uint8)`` and of ``load_digits().target.astype(int64)`` (C order).
IMAGES_SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"
TARGET_SHA256 = "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21"
LABEL_DESCRIPTION = f"digit >= {LABEL_THRESHOLD}"
#: Default hyper-parameters (no reference values exist for this task; any can be overridden as usual).
HYPERPARAMS: tuple[tuple[str, object], ...] = (
    ("model", "cnn"), ("lr", 0.01), ("dropout", 0.0), ("batch_size", 64), ("epochs", 15),
    ("bargain_epochs", 5),
)


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as ``(images uint8 (1797, 8, 8) in 0..16, digits int64)``, checked by sha256."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.ascontiguousarray(bunch.images.astype(np.uint8))
    digits = np.ascontiguousarray(bunch.target.astype(np.int64))
    for name, array, expected in (("images", images, IMAGES_SHA256), ("digits", digits, TARGET_SHA256)):
        actual = hashlib.sha256(array.tobytes()).hexdigest()
        if actual != expected:
            detail = f"sklearn load_digits {name} have sha256 {actual}, expected {expected}"
            raise FrameError(FRAME_MISMATCH.format(dataset=DATASET, detail=detail))
    return images, digits


def coloured_table(images: np.ndarray | None = None, digits: np.ndarray | None = None) -> ImageTable:
    """Every digit image in both colours: row ``2 * i + c`` is image ``i`` drawn in channel ``c``."""
    if images is None or digits is None:
        images, digits = load_digit_images()
    n = images.shape[0]
    pixels = np.zeros((n, 2, *INPUT_SHAPE), dtype=np.uint8)  # (image, colour, channel, h, w)
    for colour in range(2):
        pixels[:, colour, colour] = images
    y = (digits >= LABEL_THRESHOLD).astype(np.int64)
    return ImageTable(
        setting=SETTING,
        pixels=pixels.reshape(2 * n, *INPUT_SHAPE),
        max_value=MAX_VALUE,
        y=np.repeat(y, 2),
        group=np.tile(np.arange(2, dtype=np.int64), n),
        group_names=list(GROUP_NAMES),
        image=np.repeat(np.arange(n, dtype=np.int64), 2),
        partition=np.full(2 * n, NO_PARTITION, dtype=np.int64),
    )


def draw_split(table: ImageTable, seed: int, *, val_per_cell: int = VAL_PER_CELL,
               test_per_cell: int = TEST_PER_CELL, correlation: float = TRAIN_CORRELATION,
               test_with_replacement: bool = False, name: str | None = None) -> SplitIndices:
    """Row indices of the split drawn from ``seed`` (recipe in the module docstring; ``name`` names errors)."""
    name = name or split_name(seed, test_with_replacement)
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [0, 1], got {correlation!r}")
    rng = np.random.default_rng(seed)
    labels = table.y[::2]  # one entry per image (row 2 * i is image i in red)
    need = 2 * (val_per_cell + test_per_cell) + 1
    orders = []
    for label in (0, 1):
        images = rng.permutation(np.flatnonzero(labels == label))
        if val_per_cell < 1 or test_per_cell < 1 or len(images) < need:
            detail = (f"label {label} has {len(images)} images; val_per_cell={val_per_cell} and "
                      f"test_per_cell={test_per_cell} need at least {need} (and both >= 1)")
            raise SplitError(SPLIT_INVALID.format(split=name, setting=table.setting, detail=detail))
        orders.append(images)
    cells = [(colour, label) for colour in range(2) for label in range(2)]  # cell index colour * 2 + label

    def held_out(start: int, per_cell: int) -> list[np.ndarray]:
        """Rows of each cell: ``per_cell`` images of the cell's label, from ``start`` on, in its colour."""
        return [2 * orders[label][start + colour * per_cell:start + (colour + 1) * per_cell] + colour
                for colour, label in cells]

    val = held_out(0, val_per_cell)
    test = held_out(2 * val_per_cell, test_per_cell)
    train_rows = []
    for label in (0, 1):
        train = orders[label][2 * (val_per_cell + test_per_cell):]
        agrees = rng.random(len(train)) < correlation
        train_rows.append(2 * train + np.where(agrees, label, 1 - label))
    if test_with_replacement:  # drawn last, so that both variants share every other draw
        test = [rng.choice(pool, size=test_per_cell, replace=True) for pool in test]
    return SplitIndices(
        train=np.sort(np.concatenate(train_rows)).astype(np.int64),
        val=np.concatenate(val).astype(np.int64),
        test=np.concatenate(test).astype(np.int64),
    )


def prepare(out_dir: str | os.PathLike[str]) -> Path:
    """Write the prepared table of ``digits-colour`` (Parquet + manifest) to ``out_dir``."""
    import sklearn

    table = coloured_table()
    recipe = {"label": LABEL_DESCRIPTION, "groups": "colour channel (0 red, 1 green)",
              "train_correlation": TRAIN_CORRELATION, "test_per_cell": TEST_PER_CELL,
              "paper_split_seed": PAPER_SPLIT_SEED, "rows": "row 2 * i + c = image i in colour c"}
    raw = {"sklearn/load_digits/images": IMAGES_SHA256, "sklearn/load_digits/target": TARGET_SHA256,
           "sklearn/version": sklearn.__version__}
    return write_image_table(table, out_dir, dataset=DATASET, raw_files=raw, recipe=recipe)


def load_split(table: ImageTable, *, split: str | int = PAPER, test_with_replacement: bool | None = None,
               val_per_cell: int | None = None) -> SplitData:
    """The split of ``table``: ``"paper"`` (seed ``PAPER_SPLIT_SEED``, the fixed recipe) or an integer seed
    (:func:`fairbench.data.images.table.resolve_split`)."""
    req = resolve_split(split, test_with_replacement, val_per_cell, VAL_PER_CELL)
    indices = draw_split(table, req.seed, val_per_cell=req.val_per_cell,
                         test_with_replacement=req.test_with_replacement, name=req.name)
    return split_data(table, indices, req.name)
