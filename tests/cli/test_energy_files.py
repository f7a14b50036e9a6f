"""Energy files (.npz/.pt), mask files and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ersm
from ersm.io import (EnergyFileError, MaskFileError, atomic_save_npz, atomic_write,
                     is_valid_mask_file, load_energy, load_mask, save_energy, save_mask)
from ersm.testing import random_grid_energy


def _assert_same_energy(got: ersm.GridEnergy, want: ersm.GridEnergy) -> None:
    assert got.batched == want.batched and got.connectivity == want.connectivity
    assert got.array_kind == want.array_kind
    for a, b in [(got.unary, want.unary), (got.pairwise, want.pairwise),
                 (got.constant, want.constant)]:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.asarray(a).dtype == np.asarray(b).dtype


@pytest.mark.parametrize("connectivity", [4, 8])
def test_npz_round_trip(tmp_path, connectivity):
    energy = random_grid_energy(batch=3, height=4, width=5, connectivity=connectivity, seed=1)
    energy = ersm.GridEnergy(energy.unary, energy.pairwise, constant=np.array([1.0, -2.0, 0.5]))
    _assert_same_energy(load_energy(save_energy(tmp_path / "e.npz", energy)), energy)


def test_pt_round_trip_keeps_tensors(tmp_path):
    base = random_grid_energy(batch=2, height=3, width=4, connectivity=8, seed=2)
    energy = ersm.GridEnergy(torch.from_numpy(base.unary).float(),
                             torch.from_numpy(base.pairwise).float(), constant=torch.tensor(3.0))
    loaded = load_energy(save_energy(tmp_path / "e.pt", energy))
    assert isinstance(loaded.unary, torch.Tensor) and loaded.unary.dtype == torch.float32
    _assert_same_energy(loaded, energy)


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_unbatched_round_trip(tmp_path, suffix):
    base = random_grid_energy(batch=1, height=3, width=3, seed=3)
    energy = ersm.GridEnergy(base.unary[0], base.pairwise[0], constant=1.5)
    if suffix == ".pt":
        energy = ersm.GridEnergy(torch.from_numpy(base.unary[0]), torch.from_numpy(base.pairwise[0]),
                                 constant=1.5)
    loaded = load_energy(save_energy(tmp_path / f"e{suffix}", energy))
    assert not loaded.batched and loaded.mask_shape == (3, 3)
    mask = np.eye(3, dtype=bool)
    np.testing.assert_allclose(np.asarray(loaded.energy(mask)), np.asarray(energy.energy(mask)))


def test_minimal_npz_infers_connectivity(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, unary=np.zeros((2, 3, 3)), pairwise=np.ones((2, 4, 3, 3)))
    energy = load_energy(path)
    assert energy.connectivity == 8 and float(energy.constant) == 0.0


def test_minimal_pt_dict(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"unary": torch.zeros(3, 3), "pairwise": torch.ones(2, 3, 3), "connectivity": 4}, path)
    assert load_energy(path).mask_shape == (3, 3)


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_exception_missing_key(tmp_path, suffix):
    path = tmp_path / f"nokey{suffix}"
    if suffix == ".npz":
        np.savez(path, unary=np.zeros((3, 3)), pairwse=np.ones((2, 3, 3)))
    else:
        torch.save({"unary": torch.zeros(3, 3)}, path)
    with pytest.raises(EnergyFileError, match=r"nokey.*missing entry 'pairwise'") as info:
        load_energy(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_exception_bad_shape(tmp_path):
    path = tmp_path / "shape.npz"
    np.savez(path, unary=np.zeros((2, 3, 3)), pairwise=np.ones((2, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"shape\.npz: pairwise must have shape .*\(2, 2, 3, 4\)"):
        load_energy(path)


def test_exception_bad_connectivity(tmp_path):
    path = tmp_path / "conn.npz"
    np.savez(path, unary=np.zeros((3, 3)), pairwise=np.ones((2, 3, 3)), connectivity=6)
    with pytest.raises(EnergyFileError, match=r"conn\.npz: 'connectivity' must be the scalar 4 or 8"):
        load_energy(path)


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_exception_unreadable_npz(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(EnergyFileError, match=r"junk\.npz: not a \.npz file"):
        load_energy(path)


def test_exception_truncated_npz(tmp_path):
    path = save_energy(tmp_path / "cut.npz", random_grid_energy(seed=4))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(EnergyFileError, match=r"cut\.npz"):
        load_energy(path)


def test_exception_pt_not_a_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2, 2)], path)
    with pytest.raises(EnergyFileError, match=r"list\.pt: a \.pt energy file must hold a dict"):
        load_energy(path)


def test_exception_unsupported_suffix(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text("1 2 3")
    with pytest.raises(EnergyFileError, match=r"e\.txt: unsupported energy file type '\.txt'"):
        load_energy(path)


def test_exception_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_energy(tmp_path / "absent.npz")


def test_mask_file_round_trip_and_validity(tmp_path):
    energy = random_grid_energy(batch=2, height=3, width=3, seed=5)
    result = ersm.solve(energy, backend="reference")
    path = save_mask(tmp_path / "m.npz", result)
    content = load_mask(path)
    np.testing.assert_array_equal(content.mask, result.mask)
    np.testing.assert_array_equal(content.energy, result.energy)
    assert content.backend == "reference" and content.mask.dtype == bool
    assert is_valid_mask_file(path) and is_valid_mask_file(path, backend="reference")
    assert not is_valid_mask_file(path, backend="graphcut")
    path.write_bytes(path.read_bytes()[:50])
    assert not is_valid_mask_file(path)
    with pytest.raises(MaskFileError, match=r"m\.npz: not a readable mask file"):
        load_mask(path)


def test_mask_file_rejects_malformed(tmp_path):
    path = atomic_save_npz(tmp_path / "m.npz", mask=np.zeros((2, 3, 3)), energy=np.zeros(2),
                           backend=np.asarray("x"))
    with pytest.raises(MaskFileError, match="'mask' must be a bool"):
        load_mask(path)


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def explode(f):
        f.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(path, explode)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temp file left


def test_atomic_save_npz_no_suffix_added(tmp_path):
    path = atomic_save_npz(tmp_path / "arrays.data", x=np.arange(3))
    assert path.name == "arrays.data" and sorted(p.name for p in tmp_path.iterdir()) == ["arrays.data"]
    with np.load(path) as data:
        np.testing.assert_array_equal(data["x"], np.arange(3))
