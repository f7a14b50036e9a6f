"""``reference``: exact max-flow in arbitrary-precision integers (pure Python, small grids).

Every float64 is a dyadic rational, so multiplying all capacities by their largest
denominator gives Python integers with no rounding at all. Dinic's algorithm on those
integers is exact for any input, including values spanning 1e-300…1e300. Slow: an
oracle for tests, not for use.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..kernels.grid_graph import grid_edges, solve_each_map, terminal_capacities
from ..registry import BackendSpec, register

MAX_TOKENS = 4096


def exact_integers(values: np.ndarray) -> list[int]:
    """Python ints proportional to ``values`` (float64) with no rounding."""
    ratios = [float(v).as_integer_ratio() for v in np.asarray(values, np.float64).ravel()]
    denom = max((d for _, d in ratios), default=1)
    return [n * (denom // d) for n, d in ratios]


class _Dinic:
    """Dinic max-flow on an adjacency list of integer capacities."""

    def __init__(self, n_nodes: int) -> None:
        self.head: list[list[int]] = [[] for _ in range(n_nodes)]
        self.to: list[int] = []
        self.cap: list[int] = []

    def add_edge(self, u: int, v: int, cap_uv: int, cap_vu: int = 0) -> None:
        self.head[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(cap_uv)
        self.head[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(cap_vu)

    def _levels(self, s: int) -> list[int]:
        level = [-1] * len(self.head)
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self.head[u]:
                if self.cap[e] > 0 and level[self.to[e]] < 0:
                    level[self.to[e]] = level[u] + 1
                    queue.append(self.to[e])
        return level

    def _augment(self, s: int, t: int, level: list[int], it: list[int]) -> int:
        """One blocking-flow path by iterative DFS; returns the pushed amount (0 if none)."""
        path: list[int] = []
        u = s
        while True:
            if u == t:
                push = min(self.cap[e] for e in path)
                for e in path:
                    self.cap[e] -= push
                    self.cap[e ^ 1] += push
                return push
            advanced = False
            while it[u] < len(self.head[u]):
                e = self.head[u][it[u]]
                v = self.to[e]
                if self.cap[e] > 0 and level[v] == level[u] + 1:
                    path.append(e)
                    u = v
                    advanced = True
                    break
                it[u] += 1
            if not advanced:
                if not path:
                    return 0
                level[u] = -1  # dead end
                e = path.pop()
                u = self.to[e ^ 1]
                it[u] += 1

    def max_flow(self, s: int, t: int) -> int:
        total = 0
        while True:
            level = self._levels(s)
            if level[t] < 0:
                return total
            it = [0] * len(self.head)
            while (pushed := self._augment(s, t, level, it)) > 0:
                total += pushed

    def reachable(self, s: int) -> list[bool]:
        return [lvl >= 0 for lvl in self._levels(s)]


def reference_mincut_map(unary: np.ndarray, pairwise: np.ndarray) -> np.ndarray:
    """Canonical keep-mask ``(H, W)`` of one map: not reachable from the source."""
    height, width = unary.shape
    n = height * width
    i, j, w = grid_edges(pairwise)
    cap_s, cap_t = terminal_capacities(unary)
    ints = exact_integers(np.concatenate([w, cap_s, cap_t]))
    n_e = len(w)
    graph = _Dinic(n + 2)
    for e in range(n_e):
        if ints[e] > 0:
            graph.add_edge(int(i[e]), int(j[e]), ints[e], ints[e])
    for v in range(n):
        if ints[n_e + v] > 0:
            graph.add_edge(n, v, ints[n_e + v])
        if ints[n_e + n + v] > 0:
            graph.add_edge(v, n + 1, ints[n_e + n + v])
    graph.max_flow(n, n + 1)
    reach = np.array(graph.reachable(n)[:n])
    return ~reach.reshape(height, width)


def _run(unary: np.ndarray, pairwise: np.ndarray) -> dict:
    return {"mask": solve_each_map(reference_mincut_map, unary, pairwise)}


SPEC = register(BackendSpec(
    name="reference", run=_run, exact=True, canonical=True, needs_submodular=True, max_tokens=MAX_TOKENS,
    description="pure-Python Dinic max-flow in exact integers (any float64 input; small grids)",
))
