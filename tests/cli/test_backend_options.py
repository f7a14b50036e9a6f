"""Backend options from the command line (issue 14.11): listing, -O parsing, mean-field outputs."""

from __future__ import annotations

import numpy as np
import pytest

import ersm
from ersm.cli.main import main
from ersm.io import load_energy, load_mask
from ersm.jobs.backends import option_defaults, option_help, parse_option_value, parse_options
from ersm.solvers.registry import get_backend


def test_backends_options_lists_defaults_and_help(capsys):
    assert main(["backends", "--options"]) == 0
    out = capsys.readouterr().out
    assert "    iters=50" in out and "    temperature=1.0" in out
    assert "most sweeps per sample" in out  # one line from the run's docstring
    assert option_defaults(get_backend("meanfield"))["iters"] == 50
    assert "temperature" in option_help(get_backend("meanfield"))


@pytest.mark.parametrize("text, value", [("5", 5), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3),
                                         ("true", True), ("False", False), ("none", None),
                                         ("checkerboard", "checkerboard")])
def test_parse_option_value(text, value):
    assert parse_option_value(text) == value and type(parse_option_value(text)) is type(value)


def test_exception_bad_option_names_it():
    with pytest.raises(ValueError, match="backend 'meanfield' has no option 'iterz'.*iters"):
        parse_options(["iterz=5"], "meanfield")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["iters"], "meanfield")
    with pytest.raises(ValueError, match="given twice"):
        parse_options(["iters=1", "iters=2"], "meanfield")


def test_solve_with_options_writes_q_and_free_energy(energy_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["solve", str(energy_dir), "-o", str(out), "-q", "--backend", "meanfield"]
    assert main([*args, "-O", "iters=5", "-O", "temperature=0.5"]) == 0
    capsys.readouterr()
    saved = load_mask(out / "e0.npz")
    expected = ersm.solve(load_energy(energy_dir / "e0.npz"), backend="meanfield", iters=5,
                          temperature=0.5)
    assert saved.options == {"iters": 5, "temperature": 0.5}
    np.testing.assert_array_equal(saved.mask, expected.mask)
    np.testing.assert_allclose(saved.q, expected.q)
    np.testing.assert_allclose(saved.free_energy, expected.info["free_energy"])
    assert main([*args, "-O", "iters=5", "-O", "temperature=0.5"]) == 0
    assert "0 solved, 3 skipped" in capsys.readouterr().out
    assert main([*args, "-O", "iters=6"]) == 0  # other options: solved again
    assert "3 solved" in capsys.readouterr().out


def test_exception_cli_bad_option(energy_dir, tmp_path, capsys):
    assert main(["solve", str(energy_dir), "-o", str(tmp_path / "o"), "--backend", "meanfield",
                 "-O", "iterz=5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'iterz'" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["grid", "potts"])
def test_every_backend_option_has_a_description(kind):
    from ersm.solvers.registry import backends

    for spec in backends(include_unavailable=True, kind=kind):
        helps = option_help(spec)
        missing = [name for name in option_defaults(spec) if not helps.get(name)]
        assert not missing, f"{kind} backend {spec.name!r}: options without a description: {missing}"


def test_option_help_joins_continued_lines_and_grouped_names():
    from ersm.solvers.registry import BackendSpec

    def run(unary, pairwise, a: int = 1, b: int = 2, c: int = 3):
        """Run.

        Args:
            unary: θ.
            pairwise: w.
            a, b: two options that share a
                description over two lines. A second sentence.
            c: one more; with a semicolon.
        """

    helps = option_help(BackendSpec(name="t", run=run, description="t"))
    assert helps["a"] == helps["b"] == "two options that share a description over two lines."
    assert helps["c"] == "one more; with a semicolon."
