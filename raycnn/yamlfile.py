"""YAML as ML people write it: every sweep file, config file and `--set` value goes through `load_yaml`.

PyYAML reads YAML 1.1, where `1e-3`, `5E-4` and `-.5` are strings (a float needs a dot and a signed
exponent there); YAML 1.2 and every ML config in the wild read them as numbers, so this loader does too.
Everything else is `yaml.safe_load`: no tags that build Python objects.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

FLOAT = re.compile(r"""^(?:
     [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?      # 1.5, 1., 1.5e-3
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+                     # 1e-3, 5E4
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?              # .5, -.5, .5e-2
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


class NumberLoader(yaml.SafeLoader):
    """SafeLoader whose floats follow YAML 1.2 (its own resolver table: PyYAML's add_implicit_resolver
    would append to lists it shares with SafeLoader)."""


NumberLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "-+0123456789.":
    NumberLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(0, ("tag:yaml.org,2002:float", FLOAT))


def load_yaml(text: str) -> Any:
    """The YAML document in `text`, with YAML 1.2 numbers; raises yaml.YAMLError like yaml.safe_load."""
    return yaml.load(text, Loader=NumberLoader)
