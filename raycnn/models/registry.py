"""Model registry: `@register_model("name")` on a constructor, `build_model(name, ...)`, `list_models()`.

A name is a registered architecture, a torchvision classification model (`torchvision/resnet50`) or
a user's class or function (`my_models.py:TinyNet`, `pkg.nets:build`): `get_constructor` resolves
all three to the same signature (raycnn.models.external).

A constructor takes `(in_channels, num_classes, input_size, kernel_size, **options)` and returns an
`nn.Module` mapping float images [N, C, H, W] to logits [N, num_classes]. Its keyword defaults are
the architecture's defaults. `build_model` checks every model with a dry forward pass so that an
impossible combination (a feature map shrunk to nothing) fails before training, with a fix.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from raycnn.errors import ModelError, is_out_of_memory
from raycnn.models import external
from raycnn.registry import Registry

Constructor = Callable[..., nn.Module]
MODELS: Registry[Constructor] = Registry("architecture", ModelError)
register_model = MODELS.register
list_models = MODELS.names
FIXED_ARGUMENTS = ("in_channels", "num_classes", "input_size", "kernel_size")
CANDIDATE_SIZES = (8, 16, 24, 28, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 512)


def get_constructor(name: str) -> Constructor:
    """The constructor of a registered name, a torchvision zoo model or a user's callable."""
    if external.is_external(name):
        return external.constructor(name)
    return MODELS.get(name)


def check_arch(name: str) -> None:
    """ModelError/ConfigError (one line) unless `name` resolves to a constructor."""
    get_constructor(name)


def model_options(name: str) -> dict[str, Any] | None:
    """The architecture's options and their defaults (from its constructor's signature); None when
    it takes any keyword (a zoo model's builder, a user's callable with **kwargs)."""
    if external.is_external(name):
        return external.accepted_options(name)
    params = inspect.signature(MODELS.get(name)).parameters
    return {k: p.default for k, p in params.items() if k not in FIXED_ARGUMENTS}


def check_model_options(name: str, options: dict[str, Any]) -> None:
    valid = model_options(name)
    if valid is None:
        return
    for key in options:
        if key not in valid:
            raise ModelError(f"model.{key}: {name} does not take this option; its options are: "
                             f"{', '.join(valid) or 'none'}")


def build_model(name: str, *, in_channels: int, num_classes: int, input_size: tuple[int, int],
                kernel_size: int = 3, **options: Any) -> nn.Module:
    """Build `name` for inputs [N, in_channels, *input_size]; ModelError if it cannot work."""
    check_model_options(name, options)
    arguments = dict(in_channels=in_channels, num_classes=num_classes, kernel_size=kernel_size, **options)
    problem = _try_build(name, input_size, arguments)
    if isinstance(problem, nn.Module):
        return problem
    raise ModelError(_impossible_message(name, input_size, kernel_size, in_channels, problem, arguments))


def build_for_shapes(name: str, **arguments: Any) -> nn.Module:
    """build_model on PyTorch's meta device: the model's shapes and size only, with no memory and no weight
    init, so a model too large for this machine is still checked (its first forward pass here costs about
    1.3 s of torch's imports; a CPU build of a small model would be quicker, but its size is not known
    before it is built)."""
    with torch.device("meta"):
        return build_model(name, **arguments)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _try_build(name: str, input_size: tuple[int, int], arguments: dict) -> nn.Module | str:
    """The checked model, or the reason it cannot take this input."""
    try:
        model = get_constructor(name)(input_size=tuple(input_size), **arguments)
        dry_forward(model, (arguments["in_channels"], *input_size), arguments["num_classes"])
        return model
    except (RuntimeError, ValueError) as err:
        if is_out_of_memory(err):
            raise  # not a shape problem: the caller reports it as out of memory
        return str(err).strip().splitlines()[0]


def dry_forward(model: nn.Module, input_shape: tuple[int, ...], num_classes: int | None = None) -> torch.Size:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape))
    finally:
        model.train(was_training)
    if num_classes is not None and tuple(out.shape) != (2, num_classes):
        raise ModelError(f"the model's output for a batch of 2 has shape {tuple(out.shape)}, not (2, {num_classes}): "
                         f"one logit per class; make its last layer give num_classes outputs")
    return out.shape


def _impossible_message(name, input_size, kernel_size, in_channels, problem, arguments) -> str:
    size = f"{input_size[0]}x{input_size[1]}"
    working = next((s for s in CANDIDATE_SIZES if s > min(input_size)
                    and isinstance(_try_build(name, (s, s), arguments), nn.Module)), None)
    fix = (f"pass --image-size {working} (the smallest size that works)" if working else
           "use a smaller kernel size, fewer blocks or another architecture")
    return (f"architecture {name} with kernel size {kernel_size} cannot take {in_channels}x{size} "
            f"inputs ({problem}); {fix}")
