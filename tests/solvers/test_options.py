"""The options policy (:mod:`ersm.solvers.options`) and ``BackendSpec.defaults``."""

import numpy as np
import pytest

import ersm
from ersm.solvers import BackendSpec, get_backend, register
from ersm.solvers.options import (backend_options_for, check_backend_options, check_options,
                                  option_defaults)
from ersm.solvers.registry import unregister


def _energy():
    return ersm.GridEnergy(np.array([[-1.0, 0.5]]), np.full((2, 1, 2), 0.2))


def test_defaults_filled_from_the_signature():
    assert option_defaults("meanfield")["iters"] == 50
    assert option_defaults("ste") == {"surrogate": "sigmoid", "temperature": 1.0}
    assert option_defaults("brute") == {}


def test_explicit_defaults_are_kept():
    def run(unary, pairwise, level=3):
        return {"mask": unary < 0}

    try:
        spec = register(BackendSpec(name="test_defaults", run=run, defaults={"level": 3}))
        assert spec.defaults == {"level": 3} and get_backend("test_defaults") is spec
    finally:
        unregister("test_defaults")
    with pytest.raises(ValueError, match="backend must be one of"):
        get_backend("test_defaults")


def test_exception_solve_names_option_and_defaults():
    with pytest.raises(TypeError, match=r"backend 'graphcut' does not accept option\(s\) "
                                        r"\['iters'\].*defaults \{'keep_state': False"):
        ersm.solve(_energy(), iters=3)


def test_one_rule_for_layers():
    assert check_backend_options({"iters": 3}) == {"iters": 3}
    with pytest.raises(TypeError, match=r"\['itres'\] are accepted by no backend"):
        check_backend_options({"itres": 3})
    # each backend receives exactly the options it accepts
    assert backend_options_for("graphcut", 0.5, {"iters": 3}) == {}
    assert backend_options_for("meanfield", 0.5, {"iters": 3}) == {"temperature": 0.5, "iters": 3}
    with pytest.raises(TypeError, match="does not accept"):
        check_options({"iters": 3}, [get_backend("graphcut")])
