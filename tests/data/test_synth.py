"""Synthetic generators: layout, exact masks, determinism, the spurious cue, the CLI."""

from __future__ import annotations

import argparse
import doctest
import json
import tempfile

import numpy as np
import pytest
from PIL import Image

import ersm.data.synth
from ersm.data import (
    ImageFolderDataset,
    collate,
    make_digits_in_clutter,
    make_synthetic_dataset,
    read_items,
)
from ersm.cli.data_cmd import add_data_parser
from ersm.data.synth import background_tints, draw_item, plan_items, shape_renderer


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    make_synthetic_dataset(root, n=48, seed=3, spurious=0.75, size=24)
    return root


def test_layout_and_meta(shapes):
    meta = json.loads((shapes / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["n"] == 48 and meta["spurious"] == 0.75
    assert meta["classes"] == ["cross", "disc", "square", "triangle"]
    assert (meta["n_train"], meta["n_test"]) == (36, 12)
    train = ImageFolderDataset(shapes, "train", with_masks=True)
    assert train.classes == meta["classes"] and len(train) == 36
    batch = collate([train[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 24, 24) and batch["mask"].shape == (4, 1, 24, 24)
    rows = {r["path"]: r for r in read_items(shapes)}
    assert all(rows[it["path"]]["label"] == it["label"] for it in train)
    assert np.bincount(train.targets).tolist() == [9, 9, 9, 9]  # balanced
    assert not list(shapes.rglob(".*.tmp"))


def test_masks_are_exact(shapes):
    meta = json.loads((shapes / "meta.json").read_text())
    items = plan_items(meta["n"], 4, meta["spurious"], 0.25, seed=3)
    render = shape_renderer(meta["classes"])
    for item in items[:6]:
        image, mask = draw_item(item, 3, 24, background_tints(4), render)
        rel = f"{item.split}/{meta['classes'][item.label]}/{item.index:06d}.png"
        np.testing.assert_array_equal(np.asarray(Image.open(shapes / "masks" / rel)), mask * 255)
        np.testing.assert_array_equal(np.asarray(Image.open(shapes / rel)), image)
        assert 0.05 < mask.mean() < 0.5


def test_deterministic(shapes, tmp_path):
    make_synthetic_dataset(tmp_path / "same", n=48, seed=3, spurious=0.75, size=24)
    assert _files(tmp_path / "same") == _files(shapes)
    make_synthetic_dataset(tmp_path / "other", n=48, seed=4, spurious=0.75, size=24)
    other = _files(tmp_path / "other")
    first = _files(shapes)
    assert other.keys() != first.keys() or any(other[k] != v for k, v in first.items())


def test_spurious_rate_train_and_independence_test():
    items = plan_items(4000, 4, 0.9, 0.5, seed=0)
    train = [i for i in items if i.split == "train"]
    test = [i for i in items if i.split == "test"]
    assert np.mean([i.background == i.label for i in train]) == pytest.approx(
        0.9 + 0.1 / 4, abs=0.01)  # forced share P, the rest uniform over all classes
    assert np.mean([i.background == i.label for i in test]) == pytest.approx(0.25, abs=0.03)
    table = np.zeros((4, 4))
    for i in test:
        table[i.label, i.background] += 1
    np.testing.assert_allclose(table / table.sum(1, keepdims=True), 0.25, atol=0.06)  # bg ⟂ label
    mismatched = [i.background for i in train if i.background != i.label]
    assert set(mismatched) == {0, 1, 2, 3}


def test_background_tint_is_visible(shapes):
    tints = background_tints(4)
    chroma = tints / tints.sum(1, keepdims=True)
    rows = read_items(shapes)
    hits = 0
    for row in rows:
        image = np.asarray(Image.open(shapes / row["path"]), dtype=float)
        mask = np.asarray(Image.open(shapes / "masks" / row["path"])) > 0
        colour = image[~mask].mean(0)
        hits += int(np.argmin(((chroma - colour / colour.sum()) ** 2).sum(1)) == row["background"])
    assert hits / len(rows) > 0.9
    train = [r for r in rows if r["split"] == "train"]
    assert np.mean([r["background"] == r["label"] for r in train]) >= 0.75


def test_spurious_zero_is_independent():
    items = [i for i in plan_items(8000, 4, 0.0, 0.25, seed=1) if i.split == "train"]
    table = np.zeros((4, 4))
    for i in items:
        table[i.label, i.background] += 1
    np.testing.assert_allclose(table / table.sum(1, keepdims=True), 0.25, atol=0.03)


def _hue_of(path, mask_path):
    import colorsys
    image = np.asarray(Image.open(path), dtype=float) / 255
    mask = np.asarray(Image.open(mask_path)) > 0
    return colorsys.rgb_to_hsv(*np.median(image[mask], 0))[0]


def _circular_spread(hues):
    d = np.abs(np.asarray(hues) - hues[0]) % 1.0
    return float(np.minimum(d, 1 - d).max())


@pytest.mark.parametrize("colour", ["random", "class"])
def test_object_colour(tmp_path, colour):
    root = tmp_path / colour
    meta = make_synthetic_dataset(root, n=40, seed=2, size=32, colour=colour)
    assert meta["colour"] == colour and meta["spurious"] == 0.0
    hues = {}
    for row in read_items(root):
        hue = _hue_of(root / row["path"], root / "masks" / row["path"])
        hues.setdefault(row["label"], []).append(hue)
    spread = np.mean([_circular_spread(h) for h in hues.values()])
    if colour == "class":
        assert spread < 0.1  # one hue per class
    else:
        assert spread > 0.3  # hue independent of the class


def test_colour_exception(tmp_path):
    with pytest.raises(ValueError, match="colour must be one of"):
        make_synthetic_dataset(tmp_path / "x", n=4, seed=0, colour="blue")


def test_digits(tmp_path):
    meta = make_digits_in_clutter(tmp_path / "d", n=30, seed=1, size=32)
    assert meta["classes"] == [str(d) for d in range(10)] and meta["kind"] == "digits"
    ds = ImageFolderDataset(tmp_path / "d", "test", with_masks=True)
    assert len(ds) == meta["n_test"] == 8
    assert ds.classes == meta["classes"]  # empty class folders count
    assert all(0.02 < float(it["mask"].mean()) < 0.5 for it in ds)
    make_digits_in_clutter(tmp_path / "e", n=30, seed=1, size=32)
    assert _files(tmp_path / "d") == _files(tmp_path / "e")


def test_overwrite(tmp_path):
    out = tmp_path / "o"
    make_synthetic_dataset(out, n=12, seed=0, size=16)
    with pytest.raises(FileExistsError, match="not empty.*overwrite"):
        make_synthetic_dataset(out, n=4, seed=0, size=16)
    make_synthetic_dataset(out, n=4, seed=0, size=16, overwrite=True)
    assert len(list((out / "train").rglob("*.png"))) == 3  # stale images removed
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        make_synthetic_dataset(tmp_path / "mine", n=4, seed=0, size=16, overwrite=True)


@pytest.mark.parametrize("kwargs, match", [
    ({"classes": ["disc", "hexagon"]}, "classes must be distinct names"),
    ({"classes": ["disc", "disc"]}, "classes must be distinct names"),
    ({"classes": ["disc"]}, "at least 2 classes"),
    ({"size": 8}, "size must be >= 16"),
    ({"spurious": 1.5}, "spurious must be in"),
    ({"n": 0}, "n must be >= 1"),
    ({"test_fraction": 1.0}, "test_fraction"),
])
def test_exception(tmp_path, kwargs, match):
    args = {"n": 4, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_synthetic_dataset(tmp_path / "x", **args)


def _parser():
    parser = argparse.ArgumentParser(prog="ersm")
    add_data_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli(tmp_path, capsys):
    args = _parser().parse_args(["data", "synth", "--out", str(tmp_path / "c"), "--n", "8",
                                 "--seed", "2", "--spurious", "0.5", "--size", "16",
                                 "--kind", "shapes", "--colour", "class"])
    assert args.run(args) == 0
    assert "wrote 6 train + 2 test shapes images" in capsys.readouterr().out
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["spurious"] == 0.5 and meta["colour"] == "class"
    with pytest.raises(SystemExit):
        _parser().parse_args(["data", "synth", "--out", "x", "--n", "8", "--seed", "2",
                              "--spurious", "2"])
    capsys.readouterr()


def test_docstring_examples(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert doctest.testmod(ersm.data.synth, raise_on_error=False).failed == 0
