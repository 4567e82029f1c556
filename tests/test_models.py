"""The four architectures: registry, shape contract, parameter counts against the seed's
tables, FLOP counts against an independent per-layer sum, and ResNet-50 backbone weights."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st
from torch import nn

from seg.errors import SegError
from seg.models import MODELS, SEED_MODELS, count_parameters, get_model, model_flops, register_model

from conftest import examples

NAMES = ["baseline_fcn", "simple_unet", "resnet_fcn", "unet"]


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return {n: get_model(n).eval() for n in NAMES}


def test_registry_holds_the_four_models_in_writeup_order():
    assert list(MODELS)[:4] == NAMES and list(SEED_MODELS) == NAMES


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_model("unet")(lambda **kw: nn.Identity())


def test_unknown_model_lists_valid_names():
    with pytest.raises(SegError, match=r"unknown model 'fcn8'.*baseline_fcn, simple_unet, resnet_fcn, unet"):
        get_model("fcn8")


def test_unknown_option_names_accepted_ones():
    with pytest.raises(SegError, match=r"takes no option 'depth'.*additive_skips"):
        get_model("simple_unet", depth=5)


def test_none_options_fall_back_to_builder_defaults():
    m = get_model("simple_unet", additive_skips=None)
    assert m.additive_skips is True


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hw", [(375, 500), (333, 257), (97, 131)])
@pytest.mark.slow
def test_output_matches_input_size_at_odd_sizes(built, name, hw):
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        y = built[name](x)
    assert y.shape == (1, 21, *hw)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=examples(6), deadline=None)
@given(n=st.integers(1, 3), h=st.integers(32, 90), w=st.integers(32, 90))
def test_shape_contract_any_batch_and_size(built, name, n, h, w):
    with torch.no_grad():
        y = built[name](torch.randn(n, 3, h, w))
    assert y.shape == (n, 21, h, w)


@pytest.mark.parametrize("name", NAMES)
def test_batch_items_are_independent_in_eval(built, name):
    """Padding/cropping must not mix samples: a batch of 2 equals two single runs."""
    x = torch.randn(2, 3, 45, 70)
    with torch.no_grad():
        both = built[name](x)
        one = built[name](x[1:])
    torch.testing.assert_close(both[1:], one, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_num_classes_option(name):
    m = get_model(name, num_classes=5).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 40, 40)).shape == (1, 5, 40, 40)


# ---- parameter counts, from the write-up's tables --------------------------------------------
# Each row: (in, out, kernel, batch-normed). Conv params = k*k*in*out + out (bias); a batch norm
# adds 2*out (weight and bias). The write-up: "we also included batch normalizations after each
# convolution"; transposed convs carry no BN in the tables.

def table_params(rows):
    return sum(k * k * cin * cout + cout + (2 * cout if bn else 0) for cin, cout, k, bn in rows)


SIMPLE_UNET_TABLE = [
    (3, 64, 3, True), (64, 128, 3, True), (128, 256, 3, True),  # enc conv1..3
    (256, 512, 3, True),  # bottleneck conv
    (512, 256, 2, False), (256, 256, 3, True),  # dec upconv1, dec conv1
    (256, 128, 2, False), (128, 128, 3, True),
    (128, 64, 2, False), (64, 64, 3, True),
    (64, 21, 1, False),  # final conv
]
UNET_TABLE = [
    (3, 64, 3, True), (64, 64, 3, True), (64, 128, 3, True), (128, 128, 3, True),
    (128, 256, 3, True), (256, 256, 3, True), (256, 512, 3, True), (512, 512, 3, True),
    (512, 1024, 3, True), (1024, 1024, 3, True),  # bottleneck
    (1024, 512, 2, False), (1024, 512, 3, True), (512, 512, 3, True),
    (512, 256, 2, False), (512, 256, 3, True), (256, 256, 3, True),
    (256, 128, 2, False), (256, 128, 3, True), (128, 128, 3, True),
    (128, 64, 2, False), (128, 64, 3, True), (64, 64, 3, True),
    (64, 21, 1, False),
]
RESNET_HEAD_TABLE = [
    (2048, 1024, 1, False), (1024, 512, 1, False),
    (512, 256, 3, False), (256, 128, 3, False), (128, 64, 3, True),  # deconv3 then bn1
    (64, 64, 3, True),  # deconv4 then bn2
    (64, 21, 1, False),
]
# The seed authors' basic_fcn.py (no table in the write-up): BN after every conv and deconv.
BASELINE_LAYERS = [
    (3, 32, 3, True), (32, 64, 3, True), (64, 128, 3, True), (128, 256, 3, True), (256, 512, 3, True),
    (512, 512, 3, True), (512, 256, 3, True), (256, 128, 3, True), (128, 64, 3, True), (64, 21, 3, True),
    (21, 21, 1, False),
]


def resnet50_without_fc() -> int:
    r = torchvision.models.resnet50(weights=None)
    return sum(p.numel() for p in r.parameters()) - sum(p.numel() for p in r.fc.parameters())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("simple_unet", lambda: table_params(SIMPLE_UNET_TABLE)),
        ("unet", lambda: table_params(UNET_TABLE)),
        ("resnet_fcn", lambda: resnet50_without_fc() + table_params(RESNET_HEAD_TABLE)),
        ("baseline_fcn", lambda: table_params(BASELINE_LAYERS)),
    ],
)
def test_parameter_counts_match_the_tables(built, name, expected):
    assert count_parameters(built[name]) == expected()


def test_known_parameter_totals(built):
    # Spelled out once so that a change to a table shows up in review as a changed number.
    assert {n: count_parameters(m) for n, m in built.items()} == {
        "baseline_fcn": 5_493_645, "simple_unet": 3_018_325, "resnet_fcn": 27_718_293, "unet": 31_044_821,
    }


def conv_flops_by_hooks(model: nn.Module, x: torch.Tensor) -> int:
    """2 * multiply-adds of every conv and transposed conv, from the actual tensor shapes."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, nn.ConvTranspose2d):  # every input pixel scatters a k*k*out patch
            total += 2 * inp[0][0].numel() * mod.out_channels * k // mod.groups
        else:
            total += 2 * out[0].numel() * mod.in_channels * k // mod.groups

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("name", ["baseline_fcn", "simple_unet"])
def test_flops_match_an_independent_per_layer_sum(built, name):
    assert model_flops(name, 64, 96) == conv_flops_by_hooks(built[name], torch.randn(1, 3, 64, 96))


# ---- ResNet-50 backbone weights -------------------------------------------------------------

def test_backbone_weights_from_a_local_pth(tmp_path):
    ref = torchvision.models.resnet50(weights=None)
    torch.nn.init.normal_(ref.conv1.weight)
    path = tmp_path / "r50.pth"
    torch.save(ref.state_dict(), path)  # a full torchvision state dict, fc included
    m = get_model("resnet_fcn", backbone_weights=str(path))
    torch.testing.assert_close(m.backbone.conv1.weight, ref.conv1.weight)
    torch.testing.assert_close(m.backbone.layer4[2].conv3.weight, ref.layer4[2].conv3.weight)


def test_imagenet_weights_come_from_torch_hub_cache(tmp_path, monkeypatch):
    """Offline use: a file in $TORCH_HOME/hub/checkpoints is what 'imagenet' loads."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ref = torchvision.models.resnet50(weights=None)
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(ref.state_dict(), tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1])
    m = get_model("resnet_fcn", backbone_weights="imagenet")
    torch.testing.assert_close(m.backbone.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)


def test_imagenet_offline_names_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty cache

    def no_network(*a, **kw):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_network)
    with pytest.raises(SegError) as e:
        get_model("resnet_fcn", backbone_weights="imagenet")
    msg = str(e.value)
    assert "\n" not in msg and "--backbone-weights none" in msg and "--backbone-weights PATH" in msg


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
def test_bad_backbone_file_is_one_line_error(tmp_path, content):
    path = tmp_path / "bad.pth"
    if content is None:  # a valid state dict of the wrong network
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    else:
        path.write_bytes(content)
    with pytest.raises(SegError, match="bad.pth"):
        get_model("resnet_fcn", backbone_weights=str(path))


def test_missing_backbone_file():
    with pytest.raises(SegError, match="neither 'imagenet', 'none' nor an existing file"):
        get_model("resnet_fcn", backbone_weights="/nonexistent/r50.pth")


def test_frozen_backbone_keeps_weights_and_bn_statistics():
    m = get_model("resnet_fcn", freeze_backbone=True).train()
    assert not any(p.requires_grad for p in m.backbone.parameters())
    assert all(p.requires_grad for n, p in m.named_parameters() if not n.startswith("backbone."))
    before = m.backbone.bn1.running_mean.clone()
    m(torch.randn(2, 3, 64, 64))
    assert not m.backbone.training and m.classifier.training
    torch.testing.assert_close(m.backbone.bn1.running_mean, before)
