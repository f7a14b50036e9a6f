"""The unary–pairwise grid energy, its relaxations and pairwise weight builders."""

from .evaluate import discrete_energy, pairwise_term, relaxed_energy
from .grid import GridEnergy
from .potts import PottsEnergy
from .offsets import OFFSETS, edge_slices, num_channels, offsets, valid_edge_mask
from .weights import constant_weights, contrast_weights, cosine_weights

__all__ = [
    "GridEnergy",
    "OFFSETS",
    "PottsEnergy",
    "constant_weights",
    "contrast_weights",
    "cosine_weights",
    "discrete_energy",
    "edge_slices",
    "num_channels",
    "offsets",
    "pairwise_term",
    "relaxed_energy",
    "valid_edge_mask",
]
