"""predictions.npz: round trip, compact storage, atomic writes and one-line errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fairbench.runs.predictions import Predictions, load_predictions, save_predictions


def _random(n_test: int = 37, epochs: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, n_test), rng.integers(0, 3, n_test),
            rng.integers(0, 2, (epochs, n_test)).astype(np.uint8))


@pytest.mark.parametrize("n_test", [1, 8, 37, 1464])
def test_round_trip_keeps_every_label_of_every_epoch(tmp_path: Path, n_test: int) -> None:
    y, group, labels = _random(n_test)
    path = tmp_path / "run" / "predictions.npz"
    save_predictions(path, y, group, labels)
    loaded = load_predictions(path)
    assert isinstance(loaded, Predictions)
    assert (loaded.n_test, loaded.epochs) == (n_test, 5)
    np.testing.assert_array_equal(loaded.y, y)
    np.testing.assert_array_equal(loaded.group, group)
    np.testing.assert_array_equal(loaded.labels, labels)
    assert loaded.labels.dtype == np.uint8
    assert sorted(p.name for p in path.parent.iterdir()) == ["predictions.npz"]  # no temporary left


def test_storage_is_bit_packed(tmp_path: Path) -> None:
    """1,464 test rows x 50 epochs of noisy labels stay near the 9,150 bytes of the packed bits."""
    y, group, labels = _random(1464, 50)
    path = tmp_path / "predictions.npz"
    save_predictions(path, y, group, labels)
    with np.load(path) as npz:
        assert npz["y"].dtype == np.int8 and npz["group"].dtype == np.int16
        assert npz["labels_packed"].shape == (50, 183)
    assert path.stat().st_size < 9150 + 4000


def test_save_refuses_inconsistent_arrays(tmp_path: Path) -> None:
    y, group, labels = _random()
    with pytest.raises(ValueError, match="labels have shape"):
        save_predictions(tmp_path / "p.npz", y, group, labels[:, :-1])
    with pytest.raises(ValueError, match="group has shape"):
        save_predictions(tmp_path / "p.npz", y, group[:-1], labels)
    with pytest.raises(ValueError, match="only 0 and 1"):
        save_predictions(tmp_path / "p.npz", y, group, labels * 2)
    assert not list(tmp_path.iterdir())


def test_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    y, group, labels = _random()
    path = tmp_path / "predictions.npz"
    save_predictions(path, y, group, labels)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        save_predictions(path, y, group, labels[:, :3])
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"\x00\x01 random bytes \xff" * 10, b"PK\x03\x04truncated"])
def test_malformed_files_give_one_line_errors_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "predictions.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_predictions(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_wrong_shapes_and_missing_keys_are_refused(tmp_path: Path) -> None:
    y, group, labels = _random()
    path = tmp_path / "predictions.npz"
    save_predictions(path, y, group, labels)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for change, pattern in [({"epochs": np.int64(6)}, "does not match 6 epochs"),
                            ({"n_test": np.int64(36)}, "do not match n_test"),
                            ({"format_version": np.int64(99)}, "format version 99")]:
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **{**arrays, **change})
        with pytest.raises(ValueError, match=pattern):
            load_predictions(path)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **{k: v for k, v in arrays.items() if k != "labels_packed"})
    with pytest.raises(ValueError, match="missing labels_packed"):
        load_predictions(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_predictions(tmp_path / "absent.npz")
