"""Every registered architecture builds, runs forward and backward, and has the reference size."""

from __future__ import annotations

import pytest
import torch

from raycnn.errors import ModelError
from raycnn.models import build_model, count_parameters, list_models, register_model

SMALL_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
NOT_8X8 = ("alexnet", "airbench")     # designs that pool an 8x8 image away
SUPPORTED = [(arch, shape) for arch in list_models() if arch not in NOT_8X8 for shape in SMALL_SHAPES]
SUPPORTED += [("alexnet", (3, 224, 224)), ("alexnet", (1, 64, 64)), ("airbench", (1, 28, 28)), ("airbench", (3, 32, 32))]


def test_every_registered_model_has_a_shape_case():
    assert {arch for arch, _ in SUPPORTED} == set(list_models())


@pytest.mark.parametrize("arch,shape", SUPPORTED, ids=lambda v: str(v))
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_forward_backward(arch, shape, kernel_size):
    model = build_model(arch, in_channels=shape[0], num_classes=7, input_size=shape[1:], kernel_size=kernel_size)
    images = torch.randn(3, *shape)
    logits = model(images)
    assert logits.shape == (3, 7)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("arch,options,expected", [
    ("custom_cnn", {}, 1_471_466),
    ("custom_cnn", dict(filters=(64, 128), convs_per_block=1, batch_norm=False, dense_units=(256,)), 2_175_626),
    ("alexnet_cifar", {}, 37_323_850),
    ("alexnet_small", {}, 611_210),
    ("airbench", {}, 1_972_792),
])
def test_reference_parameter_counts_on_cifar10_shape(arch, options, expected):
    model = build_model(arch, in_channels=3, num_classes=10, input_size=(32, 32), **options)
    assert count_parameters(model) == expected


def test_kernel_size_reaches_every_convolution_of_custom_cnn():
    model = build_model("custom_cnn", in_channels=3, num_classes=10, input_size=(32, 32), kernel_size=5)
    kernels = {m.kernel_size for m in model.modules() if isinstance(m, torch.nn.Conv2d)}
    assert kernels == {(5, 5)}


def test_original_alexnet_keeps_its_11x11_stride_4_stem_and_lrn():
    model = build_model("alexnet", in_channels=3, num_classes=5, input_size=(224, 224))
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.kernel_size == (11, 11) and first.stride == (4, 4)
    assert any(isinstance(m, torch.nn.LocalResponseNorm) for m in model.modules())
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [4096, 4096, 5]
    assert linear[0].in_features == 6 * 6 * 256


def test_original_alexnet_on_28x28_says_how_to_fix_it():
    with pytest.raises(ModelError, match=r"alexnet .*1x28x28.*--image-size \d+"):
        build_model("alexnet", in_channels=1, num_classes=10, input_size=(28, 28))


def test_too_many_pooling_blocks_for_the_image_is_an_error():
    with pytest.raises(ModelError, match=r"custom_cnn .*1x8x8.*--image-size"):
        build_model("custom_cnn", in_channels=1, num_classes=10, input_size=(8, 8), filters=(8, 8, 8, 8, 8))


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(ModelError, match="custom_cnn.*resnet18|alexnet.*custom_cnn"):
        build_model("vgg99", in_channels=3, num_classes=10, input_size=(32, 32))


def test_unknown_option_names_the_architecture_options():
    with pytest.raises(ModelError, match="alexnet_small does not take this option; its options are: dropout"):
        build_model("alexnet_small", in_channels=3, num_classes=10, input_size=(32, 32), filters=(8,))


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_model("custom_cnn")(lambda **kw: None)
