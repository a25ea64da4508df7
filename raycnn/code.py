"""Users' own code named in a config: `path/to/file.py:Name` or `package.module:Name`.

`load(ref, what)` returns the named object; every failure is one ConfigError line (missing file, a
module that fails to import, with its own error's last line, a name the module lacks). `record(ref)`
says which code it was: its file, content hash and git commit (where the file is in a git checkout).

Relative file paths are read against the code root: the directory the command ran in
(RAYCNN_CODE_ROOT when set: sweeps set it for their trials, whose working directory is their own).
A sweep copies each file into RUN_DIR/code/ and its trials load that copy (`use_copies`), so the code
reaches every trial process and node, and the run folder keeps the code that ran.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from raycnn.errors import ConfigError

_COPIES: dict[str, str] = {}     # ref -> file to load instead (a sweep's copy under RUN_DIR/code)
_LOADED: dict[str, Any] = {}


def is_ref(name: str) -> bool:
    """`file.py:Name` or `module.path:Name` (a registered name has no colon)."""
    module, sep, attr = str(name).rpartition(":")
    return bool(sep and module and attr) and "://" not in name


def code_root() -> Path:
    return Path(os.environ.get("RAYCNN_CODE_ROOT") or os.getcwd())


def is_file_ref(ref: str) -> bool:
    return ref.rpartition(":")[0].endswith(".py")


def file_of(ref: str) -> Path | None:
    """The file a file reference names, against the code root (None for a module reference)."""
    if not is_file_ref(ref):
        return None
    path = Path(ref.rpartition(":")[0]).expanduser()
    return path if path.is_absolute() else code_root() / path


def absolute_ref(name: str) -> str:
    """A file reference with its path made absolute against the code root (the folder the command runs
    in), so it names the same file in every trial; other names unchanged."""
    if not is_file_ref(name):
        return name
    file, _, attr = name.rpartition(":")
    path = Path(file).expanduser()
    return f"{os.path.normpath(path if path.is_absolute() else code_root() / path)}:{attr}"


def display_ref(name: str) -> str:
    """A reference as tables and reports show it: a file reference by its file name (tiny_net.py:TinyNet)."""
    return f"{Path(name.rpartition(':')[0]).name}:{name.rpartition(':')[2]}" if is_file_ref(name) else name


def short_name(name: str) -> str:
    """A name fit for trial names, folders and TensorBoard runs: `models/tiny.py:TinyNet` -> TinyNet,
    `torchvision/resnet50` -> tv_resnet50; registered names stay as they are."""
    if is_ref(name):
        return name.rpartition(":")[2]
    if name.startswith("torchvision/"):
        return "tv_" + name[len("torchvision/"):]
    return name


def refs(config) -> list[str]:
    """The user code a run config names (model.arch, data.dataset)."""
    return [name for name in (config.model.arch, config.data.dataset) if is_ref(name)]


def use_root(root: str | None) -> None:
    """Read relative file references against `root` in this process (a sweep's trials: the driver's cwd)."""
    if root:
        os.environ["RAYCNN_CODE_ROOT"] = root


def use_copies(copies: dict[str, str]) -> None:
    """Load these refs from the given files (a sweep's copies) in this process."""
    _COPIES.update(copies)


def load(ref: str, what: str) -> Any:
    """The object `ref` names; `what` says where it was named (e.g. "model.arch")."""
    if ref not in _LOADED:
        module_name, _, attr = ref.rpartition(":")
        module = _import_file(ref, what) if is_file_ref(ref) else _import_module(module_name, ref, what)
        if not hasattr(module, attr):
            names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
            raise ConfigError(f"{what}: {module_name} has no {attr!r}; it defines: {', '.join(names[:12]) or 'nothing callable'}")
        _LOADED[ref] = getattr(module, attr)
    return _LOADED[ref]


def _import_file(ref: str, what: str):
    path = Path(_COPIES[ref]) if ref in _COPIES else file_of(ref)
    if not path.is_file():
        raise ConfigError(f"{what}: {ref.rpartition(':')[0]}: no such file (looked in {path.parent}); give a path "
                          f"relative to the directory you run from, or an absolute one")
    name = "raycnn_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))          # the file's own helper modules beside it
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: any error is theirs, in one line
        raise ConfigError(f"{what}: importing {path} failed: {last_line(err)}") from None
    finally:
        sys.path.remove(str(path.parent))
    sys.modules[name] = module
    return module


def _import_module(module_name: str, ref: str, what: str):
    root = str(code_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise ConfigError(f"{what}: no module named {err.name!r} (from {ref}); install it, run from the folder "
                              f"that holds it, or name a file: path/to/file.py:Name") from None
        raise ConfigError(f"{what}: importing {module_name} failed: {last_line(err)}") from None
    except Exception as err:
        raise ConfigError(f"{what}: importing {module_name} failed: {last_line(err)}") from None


def source_file(ref: str) -> Path:
    """The file `ref`'s code is in (for a module reference, the module's file)."""
    path = file_of(ref)
    if path is None:
        module = sys.modules.get(ref.rpartition(":")[0]) or importlib.import_module(ref.rpartition(":")[0])
        path = Path(getattr(module, "__file__", "") or "")
    return path


def content_hash(ref: str) -> str:
    """SHA-256 of `ref`'s file (cheap: no git; a dataset's cache key uses it on every lookup)."""
    path = source_file(ref)
    return hashlib.sha256(path.read_bytes() if path.is_file() else b"").hexdigest()


def record(ref: str) -> dict:
    """Which code `ref` is: {ref, path, sha256, git_commit (or None), git_dirty}."""
    path = source_file(ref)
    commit, dirty = _git(path)
    return {"ref": ref, "path": str(path), "sha256": content_hash(ref), "git_commit": commit, "git_dirty": dirty}


def _git(path: Path) -> tuple[str | None, bool | None]:
    if not path.is_file():
        return None, None
    try:
        run = lambda *args: subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True,
                                           timeout=10)
        head = run("rev-parse", "HEAD")
        if head.returncode:
            return None, None
        status = run("status", "--porcelain", "--", path.name)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def last_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}".rstrip(": ")
