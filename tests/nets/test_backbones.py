"""Backbones: shapes and strides, torchvision-compatible names, local weights, freezing."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn

import ersm.nets.backbones
from ersm.core.optional import importable
from ersm.nets import (
    SmallCNN,
    WeightsError,
    build_backbone,
    freeze,
    load_backbone,
    load_weights,
    resnet18,
    resnet50,
)



@pytest.mark.parametrize("name, kwargs, channels, stride", [
    ("small_cnn", {}, 64, 4),
    ("small_cnn", {"width": 8, "out_channels": 16}, 16, 4),
    ("resnet18", {"stages": 1}, 64, 4),
    ("resnet18", {"stages": 2}, 128, 8),
    ("resnet18", {"stages": 3}, 256, 16),
    ("resnet18", {}, 512, 32),
    ("resnet34", {"stages": 2}, 128, 8),
    ("resnet50", {"stages": 2}, 512, 8),
    ("resnet50", {}, 2048, 32),
])
def test_shapes_and_strides(name, kwargs, channels, stride):
    net = build_backbone(name, **kwargs)
    out = net(torch.zeros(2, 3, 64, 96))
    assert (net.out_channels, net.stride) == (channels, stride)
    assert out.shape == (2, channels, 64 // stride, 96 // stride)


def test_cardinality_and_gradient():
    net = SmallCNN(in_channels=1, width=4, out_channels=8)
    assert net(torch.zeros(0, 1, 16, 16)).shape == (0, 8, 4, 4)
    x = torch.rand(2, 1, 16, 16, requires_grad=True)
    net(x).square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())


def test_resnet_matches_torchvision_layout():
    """Same parameter names and counts as torchvision's resnet18/50 without ``fc``."""
    for net, count in ((resnet18(), 11_176_512), (resnet50(), 23_508_032)):
        assert sum(p.numel() for p in net.parameters()) == count
        keys = set(net.state_dict())
        assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
                "layer2.0.downsample.0.weight", "layer4.1.bn2.num_batches_tracked"} <= keys
    assert "layer1.0.downsample.0.weight" in resnet50().state_dict()


def _trained(net: nn.Module) -> nn.Module:
    """Give batch norm non-trivial running statistics."""
    net.train()
    with torch.no_grad():
        net(torch.rand(4, 3, 32, 32) * 3 + 1)
    return net.eval()


@pytest.mark.parametrize("wrap", [
    lambda sd: {f"module.{k}": v for k, v in sd.items()},
    lambda sd: {"state_dict": {f"module.backbone.{k}": v for k, v in sd.items()}},
    lambda sd: {"model": sd, "epoch": 3},
])
def test_weights_round_trip(tmp_path, wrap):
    torch.manual_seed(0)
    source = _trained(resnet18(stages=2))
    state = dict(source.state_dict())
    state.update({"fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)})  # ignored
    torch.save(wrap(state), tmp_path / "w.pt")
    loaded = load_backbone("resnet18", weights=tmp_path / "w.pt", stages=2).eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), source(x))


def test_small_cnn_keeps_its_own_features_prefix(tmp_path):
    source = _trained(SmallCNN(width=4, out_channels=8))
    torch.save(source.state_dict(), tmp_path / "s.pt")
    loaded = load_backbone("small_cnn", tmp_path / "s.pt", width=4, out_channels=8).eval()
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(loaded(x), source(x))


def test_weights_exceptions(tmp_path):
    net = SmallCNN(width=4, out_channels=8)
    state = net.state_dict()
    partial = {k: v for k, v in state.items() if not k.startswith("features.3.")}
    torch.save({**partial, "extra.weight": torch.zeros(1)}, tmp_path / "p.pt")
    with pytest.raises(WeightsError, match="missing: features.3.0.weight.*unexpected: extra"):
        load_weights(SmallCNN(width=4, out_channels=8), tmp_path / "p.pt")
    with pytest.warns(UserWarning, match="missing: features.3.0.weight"):
        loaded = load_weights(SmallCNN(width=4, out_channels=8), tmp_path / "p.pt", strict=False)
    key = "features.0.0.weight"
    torch.testing.assert_close(loaded.state_dict()[key], state[key])
    torch.save(state, tmp_path / "s.pt")
    with pytest.raises(WeightsError, match=r"shape mismatch.*0.0.weight \(4, 3, 3, 3\) vs \(5, 3,"):
        load_weights(SmallCNN(width=5, out_channels=8), tmp_path / "s.pt", strict=False)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="no state dict of tensors"):
        load_weights(net, tmp_path / "list.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="cannot read .*junk.pt"):
        load_weights(net, tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_backbone("small_cnn", tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="unknown backbone 'vgg'.*resnet18"):
        build_backbone("vgg")
    with pytest.raises(ValueError, match="stages must be in 1..4"):
        resnet18(stages=5)


def test_freeze_keeps_batchnorm_in_eval():
    torch.manual_seed(0)
    backbone = _trained(SmallCNN(width=4, out_channels=8))
    parent = nn.Sequential(freeze(backbone), nn.Conv2d(8, 2, 1))
    stats = backbone.features[0][1].running_mean.clone()
    x = torch.rand(3, 3, 16, 16, requires_grad=True)
    expected = backbone(x).detach()
    parent.train()
    out = parent[0](x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(backbone.features[0][1].running_mean, stats)
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    parent(x).sum().backward()
    assert x.grad is not None and parent[1].weight.grad is not None
    assert all(p.grad is None for p in backbone.parameters())
    freeze(backbone)  # idempotent: one hook
    assert len(backbone._forward_pre_hooks) == 1


def test_load_backbone_freeze_flag():
    net = load_backbone("resnet18", freeze=True, stages=1)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert all(p.requires_grad for p in load_backbone("resnet18", stages=1).parameters())


@pytest.mark.skipif(importable("torchvision"), reason="checks the hint when torchvision is missing")
def test_torchvision_missing_gives_install_hint():
    with pytest.raises(ImportError, match=r"'torchvision.models'.*pip install 'ersm\[backbones\]'"):
        build_backbone("tv:resnet18")


@pytest.mark.skipif(importable("timm"), reason="checks the hint when timm is missing")
def test_timm_missing_gives_install_hint():
    with pytest.raises(ImportError, match=r"'timm'.*pip install 'ersm\[backbones\]'"):
        build_backbone("timm:resnet18")


@pytest.mark.skipif(not importable("torchvision"), reason="torchvision not installed")
def test_torchvision_backbone(tmp_path):
    tv = build_backbone("tv:resnet18")
    assert tv(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 2, 2)
    assert (tv.out_channels, tv.stride) == (512, 32)
    torch.save(resnet18().state_dict(), tmp_path / "ours.pt")  # our names load into torchvision's
    load_backbone("tv:resnet18", tmp_path / "ours.pt")


@pytest.mark.skipif(not importable("timm"), reason="timm not installed")
def test_timm_backbone():
    net = build_backbone("timm:resnet18")
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, net.out_channels, 2, 2) and net.stride == 32


@pytest.mark.parametrize("module", ["architectures", "checkpoints", "freezing", "adapters",
                                    "build"])
def test_docstring_examples(module):
    mod = importlib.import_module(f"ersm.nets.backbones.{module}")
    assert doctest.testmod(mod, raise_on_error=False).failed == 0


def test_package_keeps_the_public_names():
    import ersm.nets.backbones as package

    for name in package.__all__:
        assert getattr(package, name) is not None
    assert not hasattr(package, "_require")  # the twin of ersm.core.optional.require is gone


def test_a_training_checkpoint_gives_its_backbone(tmp_path):
    """A MaskedClassifier state (with the layer's options, not weights) loads as backbone."""
    from ersm.nets import build_model

    model = build_model("ersm", backbone_kwargs={"width": 4, "out_channels": 8})
    model(torch.rand(1, 3, 16, 16))
    torch.save({"model": model.state_dict(), "epoch": 1}, tmp_path / "checkpoint.pt")
    state = ersm.nets.backbones.read_state_dict(tmp_path / "checkpoint.pt")
    assert "layer._extra_state" not in state and "layer.proj.weight" in state
    with pytest.warns(UserWarning, match="unexpected: layer.proj.weight"):
        loaded = load_backbone("small_cnn", tmp_path / "checkpoint.pt", strict=False,
                               width=4, out_channels=8).eval()
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(loaded(x), model.backbone.eval()(x))


def test_small_cnn_context_layers_and_padding():
    assert len(SmallCNN(context=0).features) == 4 and len(SmallCNN().features) == 6
    assert SmallCNN(context=3)(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 8, 8)
    assert all(m.padding_mode == "replicate" for m in SmallCNN(padding_mode="replicate").modules()
               if isinstance(m, torch.nn.Conv2d))
    flat = SmallCNN(width=4, out_channels=8, padding_mode="replicate").eval()(
        torch.ones(1, 3, 16, 16))
    # replicate padding: a constant image gives the same features at the border as inside
    torch.testing.assert_close(flat, flat[..., 1:2, 1:2].expand_as(flat))
    with pytest.raises(ValueError, match="context must be >= 0"):
        SmallCNN(context=-1)
