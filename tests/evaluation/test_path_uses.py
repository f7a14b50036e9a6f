"""The exact keep-cost path in the evaluation: the ``path`` ranking, the size-matched IoU
and the landscape's path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ersm
from ersm.energy.grid import GridEnergy
from ersm.evaluation import figures
from ersm.evaluation.landscape import keep_cost_path
from ersm.evaluation.localization import iou, matched_iou
from ersm.evaluation.rankings import energy_scores, path_scores, ranks
from ersm.solvers.api import solve


def random_energy(batch: int = 3, side: int = 6, seed: int = 0, scale: float = 0.5) -> GridEnergy:
    rng = np.random.default_rng(seed)
    return GridEnergy(torch.from_numpy(rng.normal(size=(batch, side, side))),
                      torch.from_numpy(rng.uniform(0, scale, size=(batch, 2, side, side))))


def test_path_ranking_prefixes_are_the_exact_masks():
    """At every breakpoint λ, the first |M(λ)| tokens of the path order are M(λ) = the
    graph cut of θ + λ."""
    energy = random_energy()
    path = ersm.solve_path(energy)
    order = ranks(path_scores(path.thresholds, energy_scores(energy.unary)))
    for b in range(3):
        for lam in path.breakpoints[b].tolist():
            cut = solve(GridEnergy(energy.unary[b:b + 1] + lam, energy.pairwise[b:b + 1])).mask[0]
            assert torch.equal(order[b] < int(cut.sum()), cut), (b, lam)


def test_path_scores_break_ties_by_energy():
    t = torch.zeros(1, 1, 4, dtype=torch.float64)  # one group: all enter together
    e = torch.tensor([[[0.1, 0.4, 0.3, 0.2]]], dtype=torch.float64)
    assert ranks(path_scores(t, e)).tolist() == [[[3, 0, 1, 2]]]
    inf = torch.tensor([[[-np.inf, np.inf, 0.0]]], dtype=torch.float64)
    assert ranks(path_scores(inf, torch.zeros(1, 1, 3))).tolist() == [[[2, 0, 1]]]


def test_matched_iou_uses_the_closest_size_of_the_whole_path():
    energy = random_energy(batch=4, seed=3)
    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.random((4, 6, 6)) < np.array([0.1, 0.3, 0.5, 0.8])[:, None, None])
    got = matched_iou(energy, target)
    path = ersm.solve_path(energy)
    for b in range(4):
        sizes = {int((path.thresholds[b] >= lam).sum()): lam
                 for lam in [*path.breakpoints[b].tolist(), np.inf]}
        best = min(sizes, key=lambda n: (abs(n - int(target[b].sum())), n))
        mask = path.thresholds[b] >= sizes[best]
        torch.testing.assert_close(got[b], iou(mask[None], target[b:b + 1])[0])
    assert matched_iou(energy, target, method="quantiles").shape == got.shape
    with pytest.raises(ValueError, match="method must be 'path' or 'quantiles'"):
        matched_iou(energy, target, method="cuts")


def test_keep_cost_path_matches_graph_cuts():
    energy = random_energy(batch=1, seed=5)
    out = keep_cost_path(energy)
    assert out["lam"].shape == out["energy"].shape == out["size"].shape
    assert len(out["lam"]) == len(out["breakpoints"]) + 2
    shifted = GridEnergy(energy.unary + torch.from_numpy(out["lam"]).view(-1, 1, 1),
                         energy.pairwise.expand(len(out["lam"]), -1, -1, -1).contiguous())
    result = solve(shifted)
    np.testing.assert_allclose(out["energy"], np.asarray(result.energy), rtol=1e-12, atol=1e-12)
    # sizes away from the ties at breakpoints: on (lam[k-1], lam[k]) the mask is size[k]
    mid = (out["lam"][1:] + out["lam"][:-1]) / 2
    cuts = solve(GridEnergy(energy.unary + torch.from_numpy(mid).view(-1, 1, 1),
                            energy.pairwise.expand(len(mid), -1, -1, -1).contiguous())).mask
    np.testing.assert_allclose(out["size"][1:], cuts.flatten(1).double().mean(1).numpy())
    slopes = np.diff(out["energy"]) / np.diff(out["lam"])
    assert np.all(np.diff(slopes) <= 1e-9)  # concave
    assert out["size"][0] == 1.0 and out["size"][-1] == 0.0


def test_landscape_figure_shows_the_path(tmp_path, monkeypatch):
    seen = []
    original = figures.save
    monkeypatch.setattr(figures, "save", lambda fig, path: (seen.append(fig),
                                                             original(fig, path))[1])
    energy = random_energy(batch=1, seed=2)
    sweep = {"factors": [0.5, 1.0], "energy": [-1.0, -2.0], "size": [0.2, 0.5]}
    item = {"optimum": -3.0, "size": 4, "random": [-1.0], "flips": {"1": [-2.0]},
            "sweep_unary": sweep, "sweep_pairwise": sweep,
            "path": {k: v.tolist() for k, v in keep_cost_path(energy).items()}}
    figures.landscape_figure([item], tmp_path / "l.png")
    [fig] = seen
    titles = [ax.get_title() for ax in fig.axes]
    assert "image 0: keep-cost path" in titles and "image 0: λ sweep" not in titles
    path_ax = fig.axes[titles.index("image 0: keep-cost path")]
    texts = [t.get_text() for t in path_ax.get_legend().get_texts()]
    assert texts == ["optimal energy", f"breakpoints ({len(item['path']['breakpoints'])})",
                     "kept fraction"]
    assert path_ax.get_xlabel() == "keep cost λ" and path_ax.get_ylabel() == "optimal energy"
