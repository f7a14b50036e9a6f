# When does graphcut return the exact canonical (maximal) minimiser? Compare with the
# exact-integer `reference` backend on small random energies (issue 14.9).
import numpy as np, ersm
rng = np.random.default_rng(9)
def case(kind):
    h, w = rng.integers(2, 6, 2)
    u = rng.integers(-6, 7, (1, h, w)); p = rng.integers(0, 4, (1, 2, h, w))
    if kind == "integer": return u.astype(float), p.astype(float)
    if kind == "dyadic /8": return u / 8.0, p / 8.0
    return u * 0.1, p * 0.1  # multiples of 0.1: inexact float sums
for kind in ("integer", "dyadic /8", "multiples of 0.1"):
    mask_diff = energy_diff = 0
    for _ in range(275):
        e = ersm.GridEnergy(*case(kind))
        g, r = ersm.solve(e), ersm.solve(e, backend="reference")
        mask_diff += not np.array_equal(g.mask, r.mask)
        energy_diff += float(abs(g.energy[0] - r.energy[0])) > 4 * np.finfo(float).eps * 10
    print(f"{kind:17s}: mask != exact canonical in {mask_diff}/275, energy off by > 1e-14 in {energy_diff}/275")
