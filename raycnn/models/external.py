"""Models that are not raycnn's own: torchvision's classification zoo by name (`torchvision/resnet50`)
and a user's class or function (`my_models.py:TinyNet`, `my_package.nets:build`).

Both become a constructor with the registry's signature `(in_channels, num_classes, input_size,
kernel_size, **options)`:
- a user's callable gets each of those it accepts by name (all of them if it takes **kwargs), and the
  `model.*` options that were set; an option it does not take is one error line;
- a zoo model is built by `torchvision.models.get_model` with random weights (`num_classes` set), or
  with `weights` (e.g. DEFAULT: downloaded) and its last linear layer replaced for the dataset's
  classes; its first convolution is replaced when the data has other than 3 channels (pretrained
  weights averaged over RGB for grey images). The kernel size does not apply to zoo models.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from typing import Any, Callable

from torch import nn

from raycnn import code
from raycnn.errors import ConfigError, ModelError

ZOO = "torchvision/"
FIXED = ("in_channels", "num_classes", "input_size", "kernel_size")


def is_external(name: str) -> bool:
    return name.startswith(ZOO) or code.is_ref(name)


def zoo_names() -> list[str]:
    import torchvision

    return [ZOO + n for n in torchvision.models.list_models(module=torchvision.models)]


def constructor(name: str) -> Callable[..., nn.Module]:
    if name.startswith(ZOO):
        return _zoo_constructor(name)
    return _user_constructor(name)


def accepted_options(name: str) -> dict[str, Any] | None:
    """Options the constructor takes, with defaults; None when it takes any (**kwargs)."""
    if name.startswith(ZOO):
        return None
    params = _parameters(code.load(name, "model.arch"))
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return {k: p.default for k, p in params.items() if k not in FIXED and p.kind is not p.VAR_POSITIONAL}


def _parameters(fn) -> dict:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def _user_constructor(name: str) -> Callable[..., nn.Module]:
    fn = code.load(name, "model.arch")
    if not callable(fn):
        raise ConfigError(f"model.arch: {name} is a {type(fn).__name__}, not a class or function that builds a model")
    params = _parameters(fn)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())

    def build(in_channels, num_classes, input_size, kernel_size=3, **options):
        known = dict(in_channels=in_channels, num_classes=num_classes, input_size=input_size, kernel_size=kernel_size)
        arguments = {k: v for k, v in known.items() if takes_any or k in params}
        try:
            model = fn(**arguments, **options)
        except Exception as err:              # the user's constructor: its error, in one line
            raise ModelError(f"model.arch: {name}({_call(arguments, options)}) raised {code.last_line(err)}") from None
        if not isinstance(model, nn.Module):
            raise ModelError(f"model.arch: {name} returned a {type(model).__name__}, not a torch.nn.Module")
        return model

    return build


def _call(arguments: dict, options: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in {**arguments, **options}.items())


def _zoo_constructor(name: str) -> Callable[..., nn.Module]:
    import torchvision

    model_name = name[len(ZOO):]
    if model_name not in torchvision.models.list_models(module=torchvision.models):
        close = [n for n in zoo_names() if model_name.split("_")[0] in n][:8]
        raise ConfigError(f"model.arch: torchvision has no classification model {model_name!r}"
                          f"{'; did you mean ' + ', '.join(close) if close else ''} (python -m raycnn.train --list-models)")

    def build(in_channels, num_classes, input_size, kernel_size=3, weights=None, **options):
        try:
            if weights:
                with contextlib.redirect_stdout(io.StringIO()):     # torch hub's "Downloading ..." line
                    model = torchvision.models.get_model(model_name, weights=weights, **options)
                _replace_head(model, num_classes, name)
            else:
                model = torchvision.models.get_model(model_name, weights=None, num_classes=num_classes, **options)
        except (RuntimeError, ValueError) as err:
            if "weight" in str(err).lower() or "url" in str(err).lower():
                raise ModelError(f"model.weights: {weights!r} for {name}: {code.last_line(err)}") from None
            raise
        except TypeError as err:
            raise ModelError(f"model: {name} does not take {code.last_line(err)}; drop that model.* option") from None
        except OSError as err:
            raise ModelError(f"model.weights: cannot download the {weights} weights of {name} ({code.last_line(err)}); "
                             f"run once where the machine can reach download.pytorch.org, or drop model.weights "
                             f"for random initialisation") from None
        if in_channels != 3:
            _replace_first_conv(model, in_channels)
        return model

    return build


def _replace_head(model: nn.Module, num_classes: int, name: str) -> None:
    """The last nn.Linear becomes one with num_classes outputs."""
    last = None
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                last = (parent, child_name, child)
    if last is None:
        raise ModelError(f"model.arch: {name} has no linear layer to replace for {num_classes} classes")
    parent, child_name, child = last
    setattr(parent, child_name, nn.Linear(child.in_features, num_classes, bias=child.bias is not None))


def _replace_first_conv(model: nn.Module, in_channels: int) -> None:
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                conv = nn.Conv2d(in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                                 child.dilation, 1, child.bias is not None)
                if not child.weight.is_meta:
                    mean = child.weight.detach().mean(dim=1, keepdim=True)
                    conv.weight.data.copy_(mean.expand(-1, in_channels, -1, -1) * (3 / in_channels))
                setattr(parent, child_name, conv)
                return
