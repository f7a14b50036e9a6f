"""Multi-label energy files: load/save and ``ersm solve`` writing ``labels`` (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

import ersm
from ersm.cli.main import main
from ersm.io.energy_files import EnergyFileError, energy_from_mapping, load_energy, save_energy
from ersm.io.mask_files import load_mask
from ersm.jobs.solve_files import solve_files
from ersm.testing import random_grid_energy


def potts(batched=True, seed=0):
    rng = np.random.default_rng(seed)
    unary, pairwise = rng.normal(size=(2, 3, 4, 5)), rng.uniform(size=(2, 2, 4, 5))
    return ersm.PottsEnergy(unary, pairwise) if batched else ersm.PottsEnergy(unary[0], pairwise[0])


@pytest.mark.parametrize("suffix", [".npz", ".pt"])
@pytest.mark.parametrize("batched", [True, False])
def test_round_trip(tmp_path, suffix, batched):
    if suffix == ".pt":
        pytest.importorskip("torch")
    energy = potts(batched)
    back = load_energy(save_energy(tmp_path / f"e{suffix}", energy))
    assert isinstance(back, ersm.PottsEnergy) and back.batched == batched
    np.testing.assert_array_equal(np.asarray(back.unary), energy.unary)


def test_label_axis_is_told_apart_from_the_batch_axis():
    rng = np.random.default_rng(1)
    binary = energy_from_mapping({"unary": rng.normal(size=(3, 4, 5)),
                                  "pairwise": rng.uniform(size=(3, 2, 4, 5))})
    multi = energy_from_mapping({"unary": rng.normal(size=(3, 4, 5)),
                                 "pairwise": rng.uniform(size=(2, 4, 5))})
    assert isinstance(binary, ersm.GridEnergy) and isinstance(multi, ersm.PottsEnergy)


def test_constant_is_refused_for_multilabel_files():
    with pytest.raises(EnergyFileError, match="'constant' is for binary energies only"):
        energy_from_mapping({"unary": np.zeros((3, 2, 2)), "pairwise": np.zeros((2, 2, 2)),
                             "constant": 1.0}, "x.npz")
    with pytest.raises(EnergyFileError, match="x.npz: pairwise must have shape"):
        energy_from_mapping({"unary": np.zeros((3, 2, 2)), "pairwise": np.zeros((2, 2, 3))},
                            "x.npz")


def test_solve_files_default_backends_per_kind(tmp_path):
    (tmp_path / "in").mkdir()
    save_energy(tmp_path / "in" / "multi.npz", potts())
    save_energy(tmp_path / "in" / "binary.npz", random_grid_energy(2, 4, 5))
    report = solve_files([tmp_path / "in"], tmp_path / "out", progress=False)
    assert report.ok and len(report.solved) == 2
    multi = load_mask(tmp_path / "out" / "multi.npz")
    binary = load_mask(tmp_path / "out" / "binary.npz")
    assert multi.backend == "expansion" and multi.mask is None
    np.testing.assert_array_equal(multi.labels, ersm.solve(potts()).labels)
    np.testing.assert_array_equal(multi.energy, ersm.solve(potts()).energy)
    assert binary.backend == "graphcut" and binary.labels is None and binary.mask.dtype == bool
    again = solve_files([tmp_path / "in"], tmp_path / "out", progress=False)
    assert len(again.skipped) == 2  # outputs of the default backends count as done


def test_cli_meanfield_writes_labels_and_q(tmp_path, capsys):
    save_energy(tmp_path / "e.npz", potts(batched=False))
    code = main(["solve", str(tmp_path / "e.npz"), "--out", str(tmp_path / "out"), "-q",
                 "-b", "meanfield", "-O", "iters=4"])
    assert code == 0, capsys.readouterr().err
    content = load_mask(tmp_path / "out" / "e.npz")
    assert content.labels.shape == (4, 5) and content.q.shape == (3, 4, 5)
    assert content.options == {"iters": 4}


def test_cli_binary_backend_on_a_multilabel_file_fails_per_file(tmp_path, capsys):
    save_energy(tmp_path / "e.npz", potts())
    code = main(["solve", str(tmp_path / "e.npz"), "--out", str(tmp_path / "out"), "-q",
                 "-b", "graphcut"])
    assert code == 1
    assert "for a PottsEnergy, got 'graphcut'" in capsys.readouterr().err


def test_cli_expansion_options(tmp_path, capsys):
    save_energy(tmp_path / "e.npz", potts())
    code = main(["solve", str(tmp_path / "e.npz"), "--out", str(tmp_path / "out"), "-q",
                 "-b", "expansion", "-O", "max_cycles=2", "-O", "recycle=false"])
    assert code == 0, capsys.readouterr().err
    assert main(["solve", str(tmp_path / "e.npz"), "--out", str(tmp_path / "o2"), "-q",
                 "-b", "expansion", "-O", "iters=2"]) == 2
    assert "has no option 'iters'" in capsys.readouterr().err


def test_cli_lists_the_potts_backends(capsys):
    assert main(["backends", "--kind", "potts", "--options"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert names == ersm.available("potts")
    assert "max_cycles=100" in out
