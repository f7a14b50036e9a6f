"""Packaging (issue 14.16): licence, typing marker, changelog, version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import ersm
from ersm.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_license_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"]["text"] == "BSD-3-Clause"
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")


def test_py_typed_shipped():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (Path(ersm.__file__).parent / "py.typed").is_file()
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["ersm"]


def test_changelog_and_version(capsys):
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"ersm {ersm.__version__}"


def test_demo_output_ignored():
    assert "ersm-demo/" in (ROOT / ".gitignore").read_text().splitlines()
