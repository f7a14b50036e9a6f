"""``pip install ersm`` is the solver core (numpy, scipy, numba, tqdm): it must solve, sweep
paths and run the solver commands without torch, scikit-image, scikit-learn, matplotlib or
Pillow. The script runs in a subprocess that blocks those imports, so this test means the
same in the full test environment and in CI's torch-free one (see ``.ci/run``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "skimage", "sklearn", "matplotlib", "PIL")

SCRIPT = textwrap.dedent(f"""
    import importlib.abc, os, sys, tempfile
    HEAVY = {HEAVY!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
    sys.meta_path.insert(0, Block())
    import numpy as np
    import ersm
    from ersm.cli.main import main
    rng = np.random.default_rng(0)
    energy = ersm.GridEnergy(rng.integers(-8, 9, size=(2, 4, 4)) / 4.0, np.full((2, 2, 4, 4), 0.5))
    exact = ersm.solve(energy)
    for name in ersm.solvers.available():
        if name not in ("gco", "maxflow"):
            ersm.solve(energy, backend=name)
    path = ersm.solve_path(energy)
    assert (path.mask_at(0.0) == exact.mask).all()
    out = tempfile.mkdtemp()
    np.savez(os.path.join(out, "a.npz"), unary=energy.unary, pairwise=energy.pairwise)
    assert main(["solve", out, "--out", os.path.join(out, "masks"), "-q"]) == 0
    assert main(["path", out, "--out", os.path.join(out, "paths"), "-q"]) == 0
    assert main(["backends"]) == 0
    assert main(["demo", "--quick", "--out", os.path.join(out, "demo")]) == 2
    assert not [m for m in sys.modules if m.split(".")[0] in HEAVY]
    print("CORE-OK")
""")


def test_solver_core_runs_without_torch_and_the_demo_names_its_extra():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert "CORE-OK" in done.stdout, done.stdout + done.stderr
    assert "pip install 'ersm[demo]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_required_dependencies_are_the_solver_core():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower()
             for d in project["dependencies"]}
    assert names == {"numpy", "scipy", "numba", "tqdm"}
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["nets"])
    assert "ersm[demo]" in extras["test"]
