"""CUB-200-2011, Oxford-IIIT Pets and Food-101 readers on tiny fake folders."""

from __future__ import annotations

import doctest
import tempfile

import numpy as np
import pytest
import torch

import ersm.data.layouts
from ersm.data import (
    DatasetLayoutError,
    Resize,
    cub200,
    detect_layout,
    food101,
    open_dataset,
    oxford_pets,
)


def _lines(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{row}\n" for row in rows))


@pytest.fixture
def cub(tmp_path, write):
    root = tmp_path / "CUB_200_2011"
    files = ["001.Albatross/Albatross_1.jpg", "002.Auklet/Auklet_1.jpg",
             "001.Albatross/Albatross_2.jpg", "002.Auklet/Auklet_2.jpg"]
    _lines(root / "classes.txt", ["2 002.Auklet", "1 001.Albatross"])
    _lines(root / "images.txt", [f"{i + 1} {f}" for i, f in enumerate(files)])
    _lines(root / "image_class_labels.txt", ["1 1", "2 2", "3 1", "4 2"])
    _lines(root / "train_test_split.txt", ["1 1", "2 1", "3 0", "4 0"])
    soft = np.array([[0, 51, 102], [153, 204, 255]], np.uint8)  # share of annotators
    for f in files:
        write(root / "images" / f, np.full((2, 3, 3), 128))
        write(root / "segmentations" / f.replace(".jpg", ".png"), soft)
    return root


def test_cub200(cub):
    train = cub200(cub, "train")
    assert train.classes == ["001.Albatross", "002.Auklet"]
    assert [(it["path"], it["label"]) for it in train] == [
        ("images/001.Albatross/Albatross_1.jpg", 0), ("images/002.Auklet/Auklet_1.jpg", 1)]
    torch.testing.assert_close(train[0]["mask"], torch.tensor([[[0.0, 0, 0], [1, 1, 1]]]))
    assert cub200(cub, "test", mask_threshold=0)[0]["mask"].sum() == 5
    assert len(cub200(cub, "test")) == 2
    assert cub200(cub, "test", with_masks=False)[0]["mask"] is None


def test_cub200_missing_segmentations_and_bad_index(cub):
    (cub / "segmentations" / "002.Auklet" / "Auklet_1.png").unlink()
    assert cub200(cub, "train")[1]["mask"] is None
    with pytest.raises(FileNotFoundError, match="Auklet_1.png"):
        cub200(cub, "train", with_masks=True)
    _lines(cub / "image_class_labels.txt", ["1 1", "2 7", "3 1", "4 2"])
    with pytest.raises(DatasetLayoutError, match="class 7, not in 1..2"):
        cub200(cub, "train")
    _lines(cub / "train_test_split.txt", ["1 1", "2"])
    with pytest.raises(DatasetLayoutError, match="train_test_split.txt:2: expected 2 fields"):
        cub200(cub, "train")
    (cub / "classes.txt").unlink()
    with pytest.raises(FileNotFoundError, match="CUB-200-2011 index file not found.*classes.txt"):
        cub200(cub, "train")


@pytest.fixture
def pets(tmp_path, write):
    root = tmp_path / "pets"
    header = ["#Image CLASS-ID SPECIES BREED ID", "#ID: 1:37 Class ids"]
    _lines(root / "annotations" / "trainval.txt",
           header + ["Abyssinian_1 1 1 1", "american_bulldog_10 2 2 1", "Abyssinian_2 1 1 1"])
    _lines(root / "annotations" / "test.txt", ["american_bulldog_3 2 2 1", "Abyssinian_7 1 1 1"])
    trimap = np.array([[1, 2], [3, 1]], np.uint8)
    names = ("Abyssinian_1", "american_bulldog_10", "Abyssinian_2", "american_bulldog_3",
             "Abyssinian_7")
    for name in names:
        write(root / "images" / f"{name}.jpg", np.full((2, 2, 3), 200))
        write(root / "annotations" / "trimaps" / f"{name}.png", trimap)
    return root


def test_oxford_pets(pets):
    train = oxford_pets(pets, "train")
    assert train.classes == ["Abyssinian", "american_bulldog"] and train.targets == [0, 1, 0]
    assert train[1]["path"] == "images/american_bulldog_10.jpg"
    torch.testing.assert_close(train[0]["mask"], torch.tensor([[[1.0, 0], [0, 1]]]))  # 1 = pet only
    border = oxford_pets(pets, "test", border_is_object=True)[0]["mask"]
    torch.testing.assert_close(border, torch.tensor([[[1.0, 0], [1, 1]]]))
    assert oxford_pets(pets, "test").targets == [1, 0]


def test_oxford_pets_exceptions(pets):
    _lines(pets / "annotations" / "test.txt", ["Abyssinian_7 2 1 1", "american_bulldog_3 2 2 1"])
    with pytest.raises(DatasetLayoutError, match="class id 2 is both"):
        oxford_pets(pets, "test")
    _lines(pets / "annotations" / "test.txt", ["american_bulldog_3 2 2 1"])
    with pytest.raises(DatasetLayoutError, match="not 1..1"):
        oxford_pets(pets, "test")
    for png in (pets / "annotations" / "trimaps").iterdir():
        png.unlink()
    (pets / "annotations" / "trimaps").rmdir()
    assert not oxford_pets(pets, "train").has_masks
    with pytest.raises(FileNotFoundError, match="mask folder .*trimaps does not exist"):
        oxford_pets(pets, "train", with_masks=True)


@pytest.fixture
def food(tmp_path, write):
    root = tmp_path / "food-101"
    _lines(root / "meta" / "classes.txt", ["apple_pie", "baklava"])
    _lines(root / "meta" / "train.txt", ["baklava/11", "apple_pie/5"])
    _lines(root / "meta" / "test.txt", ["apple_pie/6"])
    for stem in ("baklava/11", "apple_pie/5", "apple_pie/6"):
        write(root / "images" / f"{stem}.jpg", np.full((3, 4, 3), 90))
    return root


def test_food101(food):
    train = food101(food, "train", transform=Resize((2, 2)))
    assert train.classes == ["apple_pie", "baklava"] and train.targets == [1, 0]
    item = train[0]
    assert item["path"] == "images/baklava/11.jpg" and item["image"].shape == (3, 2, 2)
    assert item["mask"] is None
    with pytest.raises(ValueError, match="no object masks"):
        food101(food, "train", with_masks=True)
    _lines(food / "meta" / "test.txt", ["pizza/1"])
    with pytest.raises(DatasetLayoutError, match="'pizza/1'.*not in meta/classes.txt"):
        food101(food, "test")
    _lines(food / "meta" / "test.txt", [])
    with pytest.raises(DatasetLayoutError, match="no images listed"):
        food101(food, "test")


def test_detect_and_open(cub, pets, food, tmp_path, write):
    write(tmp_path / "folder" / "train" / "c" / "i.png", np.zeros((2, 2, 3)))
    cases = [(cub, "cub200"), (pets, "oxford_pets"), (food, "food101"),
             (tmp_path / "folder", "folder")]
    for root, name in cases:
        assert detect_layout(root) == name
        assert len(open_dataset(root, "train")) > 0
    assert open_dataset(cub, "train", layout="cub200", with_masks=False)[0]["mask"] is None
    with pytest.raises(DatasetLayoutError, match="cannot tell the layout"):
        detect_layout(tmp_path / "nothing")
    with pytest.raises(ValueError, match="layout must be"):
        open_dataset(cub, "train", layout="imagenet")
    with pytest.raises(ValueError, match="split must be one of"):
        cub200(cub, "val")


def test_docstring_examples(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert doctest.testmod(ersm.data.layouts, raise_on_error=False).failed == 0
