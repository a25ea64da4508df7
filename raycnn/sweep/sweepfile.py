"""Reading a sweep file: refused in one line, in seconds, when it cannot be one (too large, binary, not
UTF-8, not YAML, nested or aliased into more values than any sweep has); numbers as YAML 1.2 reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from raycnn.errors import ConfigError
from raycnn.yamlfile import load_yaml

MAX_FILE_BYTES = 1 << 20       # a sweep file is a few hundred lines; anything larger is not one
MAX_DEPTH, MAX_NODES = 12, 200_000   # nesting and size of the loaded YAML (aliases count every time)


def read_sweep_yaml(path: str | Path) -> Any:
    """The file's YAML, refused in one line when it cannot be a sweep file: too large, binary, not
    UTF-8, not YAML, or nested or aliased into more values than any sweep has."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size / 2**20:.1f} MB is too large for a sweep file (at most "
                              f"{MAX_FILE_BYTES >> 20} MB); is it the right file?")
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the sweep file ({err.strerror})") from None
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), data.index(b"\0") + 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: binary data, not a YAML sweep file; pass a .yaml file such as "
                          f"sweeps/quickstart.yaml") from None
    try:
        raw = load_yaml(text)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply for a sweep file (at most {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())[:300]})") from None
    _check_shape(raw, str(path))
    return raw


def _check_shape(raw: Any, source: str) -> None:
    """Walk the loaded YAML once, within budgets: aliases can make a small file expand enormously."""
    budget, stack = MAX_NODES, [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ConfigError(f"{source}: holds more than {MAX_NODES:,} values (YAML aliases count each time "
                              f"they are used); a sweep file lists its axes, not its trials")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels; a sweep file is "
                              f"section -> key -> value")
        children = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)
