"""Old import paths of moved solver modules: kept, with a DeprecationWarning."""

import importlib

import pytest


@pytest.mark.parametrize(("old", "new", "name"), [
    ("ersm.solvers.brute", "ersm.solvers.backends.brute", "all_masks"),
    ("ersm.solvers._bk_kernel", "ersm.solvers.kernels.bk", "grid_mincut_batch"),
])
def test_old_module_warns_and_reexports(old, new, name):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.reload(module)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_differentiable_package_keeps_its_functions():
    from ersm.solvers import differentiable
    from ersm.solvers.backends import meanfield_implicit, perturbed, ste, tv

    assert differentiable.ste_mask is ste.ste_mask
    assert differentiable.perturbed_mask is perturbed.perturbed_mask
    assert differentiable.tv_mask is tv.tv_mask
    assert differentiable.meanfield_implicit is meanfield_implicit.meanfield_implicit
