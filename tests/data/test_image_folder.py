"""ImageFolderDataset, collate and the joint image/mask transforms."""

from __future__ import annotations

import doctest
import tempfile

import numpy as np
import pytest
import torch

import ersm.data.dataset
import ersm.data.image_folder
import ersm.data.image_io
import ersm.data.transforms
from ersm.data import (
    CenterCrop,
    Compose,
    DatasetLayoutError,
    ImageFolderDataset,
    ImageReadError,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    collate,
)
from ersm.data import transforms as T


@pytest.fixture
def folder(tmp_path, write, block):
    """train: 2 classes (b has 2 images), masks for all but b/y; test: class a only."""
    for split, cls, name, box in [("train", "b", "x.png", (1, 2, 5, 6)),
                                  ("train", "a", "z.png", (0, 0, 3, 3)),
                                  ("train", "b", "y.jpg", (2, 2, 4, 4)),
                                  ("test", "a", "t.png", (1, 1, 2, 2))]:
        image, mask = block(6, 8, box)
        write(tmp_path / split / cls / name, image)
        if name != "y.jpg":
            write(tmp_path / "masks" / split / cls / f"{name[0]}.png", mask)
    return tmp_path


def test_smoke(folder):
    ds = ImageFolderDataset(folder, "train")
    assert ds.classes == ["a", "b"] and ds.class_to_idx == {"a": 0, "b": 1}
    assert [it["path"] for it in ds] == ["train/a/z.png", "train/b/x.png", "train/b/y.jpg"]
    assert ds.targets == [0, 1, 1]
    item = ds[1]
    assert item["image"].shape == (3, 6, 8) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["label"] == 1 and item["mask"].shape == (1, 6, 8)
    expected = torch.zeros(1, 6, 8)
    expected[0, 1:5, 2:6] = 1
    torch.testing.assert_close(item["mask"], expected)
    assert ds[2]["mask"] is None  # auto: y.jpg has no mask file
    assert "samples=3" in repr(ds)


def test_fixed_classes(folder):
    test = ImageFolderDataset(folder, "test", classes=["a", "b", "c"])
    assert test.classes == ["a", "b", "c"] and test.targets == [0]
    assert ImageFolderDataset(folder, "test", classes=["z", "a"]).targets == [1]
    with pytest.raises(DatasetLayoutError, match=r"class folders \['b'\] .* not in the given"):
        ImageFolderDataset(folder, "train", classes=["a"])


def test_masks_off_required_and_absent(folder):
    assert all(it["mask"] is None for it in ImageFolderDataset(folder, "train", with_masks=False))
    with pytest.raises(FileNotFoundError, match="1 of 3 mask files are missing.*y.png"):
        ImageFolderDataset(folder, "train", with_masks=True)
    assert ImageFolderDataset(folder, "test", with_masks=True)[0]["mask"].sum() == 1
    (folder / "masks" / "test" / "a" / "t.png").unlink()
    (folder / "masks" / "test" / "a").rmdir()
    (folder / "masks" / "test").rmdir()
    assert not ImageFolderDataset(folder, "test").has_masks
    with pytest.raises(ValueError, match="with_masks"):
        ImageFolderDataset(folder, "test", with_masks="yes")


def test_exception(tmp_path, folder, write):
    with pytest.raises(FileNotFoundError, match="split folder not found.*train"):
        ImageFolderDataset(tmp_path / "nowhere", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        ImageFolderDataset(folder, "val")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="no class folders"):
        ImageFolderDataset(tmp_path / "empty", "train")
    (tmp_path / "empty" / "train" / "cls").mkdir()
    (tmp_path / "empty" / "train" / "cls" / "notes.txt").write_text("x")
    with pytest.raises(DatasetLayoutError, match="no image files"):
        ImageFolderDataset(tmp_path / "empty", "train")
    (folder / "train" / "a" / "broken.png").write_bytes(b"not a png")
    ds = ImageFolderDataset(folder, "train")
    with pytest.raises(ImageReadError, match="broken.png"):
        ds[0]
    write(folder / "masks" / "train" / "b" / "x.png", np.zeros((3, 3)))
    with pytest.raises(DatasetLayoutError, match="x.png.*is \\(3, 3\\).*\\(6, 8\\)"):
        ds[2]


def test_collate_with_missing_masks_and_dataloader(folder):
    ds = ImageFolderDataset(folder, "train")
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)))
    assert batch["image"].shape == (3, 3, 6, 8) and batch["label"].tolist() == [0, 1, 1]
    assert batch["has_mask"].tolist() == [True, True, False]
    assert batch["mask"].shape == (3, 1, 6, 8) and batch["mask"][2].sum() == 0
    assert batch["path"][2] == "train/b/y.jpg"
    no_masks = collate([ImageFolderDataset(folder, "train", with_masks=False)[0]])
    assert no_masks["mask"] is None and no_masks["has_mask"].tolist() == [False]


def test_collate_cardinality_and_exception():
    empty = collate([])
    assert empty["image"].shape[0] == 0 and empty["label"].shape == (0,) and empty["mask"] is None
    items = [{"image": torch.zeros(3, 2, 2), "label": 0, "mask": None, "path": "a"},
             {"image": torch.zeros(3, 2, 3), "label": 0, "mask": None, "path": "b"}]
    with pytest.raises(ValueError, match="different sizes.*Resize"):
        collate(items)


# ---------------------------------------------------------------- transforms


def _object_item(block) -> dict:
    image, mask = block(10, 14, (2, 3, 7, 9))
    return {"image": torch.from_numpy(image).permute(2, 0, 1).float() / 255,
            "mask": torch.from_numpy(mask)[None].float() / 255, "label": 0, "path": "p"}


def _assert_aligned(item):
    red, mask = item["image"][0], item["mask"][0]
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert (red[mask == 1] >= 0.5).all() and (red[mask == 0] <= 0.5).all()


@pytest.mark.parametrize("seed", range(6))
def test_masks_stay_aligned_under_joint_transforms(block, seed):
    item = _object_item(block)
    pipeline = Compose([Resize((20, 28)), RandomCrop(24, padding=3, generator=seed),
                        RandomHorizontalFlip(0.5, generator=seed), CenterCrop((16, 20))])
    out = pipeline(item)
    assert out["image"].shape == (3, 16, 20) and out["mask"].shape == (1, 16, 20)
    _assert_aligned(out)
    assert out["mask"].sum() > 0 and item["image"].shape == (3, 10, 14)  # input untouched


def test_random_transforms_are_seeded(block):
    item = _object_item(block)

    def run(seed):
        t = Compose([RandomCrop(8, padding=2, padding_mode="reflect", generator=seed),
                     RandomHorizontalFlip(generator=torch.Generator().manual_seed(seed))])
        return [t(item)["image"] for _ in range(5)]

    for a, b in zip(run(3), run(3)):
        torch.testing.assert_close(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(run(3), run(4)))
    assert torch.equal(RandomHorizontalFlip(1.0)(item)["mask"], item["mask"].flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(item)["image"], item["image"])


def test_module_matches_function(block):
    item = _object_item(block)
    torch.testing.assert_close(Resize(5)(item)["image"], T.resize(item["image"], 5))
    torch.testing.assert_close(Resize(5)(item)["mask"], T.resize(item["mask"], 5, mode="nearest"))
    torch.testing.assert_close(CenterCrop(4)(item)["mask"], T.center_crop(item["mask"], 4))
    normed = Normalize((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))(item)
    expected = T.normalize(item["image"], (0.5,) * 3, (0.25, 0.5, 1.0))
    torch.testing.assert_close(normed["image"], expected)
    assert normed["mask"] is item["mask"]


def test_functional_core():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    assert T.resize(x, 2).shape == (2, 3, 2, 3) and T.resize(x[0], (8, 12)).shape == (3, 8, 12)
    assert T.output_size(30, 20, 10) == (15, 10)
    torch.testing.assert_close(T.crop(x, 1, 2, 2, 3), x[..., 1:3, 2:5])
    torch.testing.assert_close(T.center_crop(x, (2, 2)), x[..., 1:3, 2:4])
    torch.testing.assert_close(T.hflip(x)[..., 0], x[..., -1])
    assert T.pad(x[0], 2, mode="reflect").shape == (3, 8, 10)
    torch.testing.assert_close(T.pad(x, 1)[..., 1:-1, 1:-1], x)
    mask = (x[:, :1] % 2).float()
    assert set(T.resize(mask, (7, 9), mode="nearest").unique().tolist()) <= {0.0, 1.0}


def test_transform_exceptions():
    x = torch.zeros(3, 4, 4)
    with pytest.raises(ValueError, match="does not fit"):
        T.crop(x, 2, 0, 4, 4)
    with pytest.raises(ValueError, match="mode"):
        T.resize(x, 2, mode="cubic")
    with pytest.raises(ValueError, match="\\(C, H, W\\)"):
        T.resize(torch.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(7, padding=1)({"image": x, "mask": None})
    with pytest.raises(ValueError, match="p must be"):
        RandomHorizontalFlip(1.5)
    with pytest.raises(ValueError, match="std must be positive"):
        T.normalize(x, (0, 0, 0), (1, 0, 1))


@pytest.mark.parametrize("module", [ersm.data.dataset, ersm.data.image_io, ersm.data.image_folder,
                                    ersm.data.transforms])
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert doctest.testmod(module, raise_on_error=False).failed == 0
