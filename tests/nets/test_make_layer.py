"""make_layer: each model gets its layer, and options a layer lacks are named, not a TypeError."""

import pytest

from ersm.nets import EnergyMaskLayer, ERSMLayer
from ersm.nets.classifier import make_layer


def test_smoke():
    assert make_layer("baseline", 8) is None
    assert isinstance(make_layer("ersm", 8, patch_size=1), ERSMLayer)
    layer = make_layer("mrf", 8, keep_ratio=0.2)
    assert isinstance(layer, EnergyMaskLayer) and layer.keep_ratio == 0.2


def test_exception_names_the_option_the_layer_lacks():
    with pytest.raises(ValueError, match=r"model='ersm' \(ERSMLayer\) does not take layer options \['keep_ratio'\]"):
        make_layer("ersm", 8, keep_ratio=0.15)
    with pytest.raises(ValueError, match="model='baseline' has no layer"):
        make_layer("baseline", 8, keep_ratio=0.15)


def test_budgeted_mrf_layer_trains_with_ste_by_default():
    from ersm.nets.classifier import make_layer
    from ersm.solvers.defaults import DEFAULT_BUDGETED, DEFAULT_RELAXED

    assert make_layer("mrf", 8, keep_ratio=0.2).backend == DEFAULT_BUDGETED == "ste"
    assert make_layer("mrf", 8, keep_ratio=0.2).temperature == 4.0
    assert make_layer("mrf", 8, keep_ratio=0.2, temperature=2.0).temperature == 2.0
    assert make_layer("mrf", 8, backend="ste", keep_ratio=0.2).temperature == 1.0
    assert make_layer("mrf", 8).backend == DEFAULT_RELAXED
    assert make_layer("mrf", 8, backend="meanfield", keep_ratio=0.2).backend == "meanfield"
