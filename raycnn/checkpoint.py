"""Checkpoints of a trial: CHECKPOINT_DIR/last.pt (everything needed to continue, written every
epoch) and CHECKPOINT_DIR/best.pt (the best-validation weights). Both load with
`torch.load(weights_only=True)`: only tensors and plain containers are stored.

Writes are atomic (a temporary file, fsync, rename, fsync of the folder): a kill or a lost node mid-write
leaves the previous file, never a torn one. A file cut short anyway (a disk that lied, a copy that
stopped) raises `UnreadableCheckpoint`, which callers turn into a fallback and one warning line."""

from __future__ import annotations

from pathlib import Path

import torch

from raycnn.atomic import written_whole
from raycnn.errors import ConfigError
from raycnn.optim import restore_scheduler
from raycnn.training_state import TrainingState

LAST, BEST = "last.pt", "best.pt"


class UnreadableCheckpoint(Exception):
    """A checkpoint file that cannot be read back (truncated, zero bytes, not a checkpoint)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} is unreadable ({reason})")
        self.path, self.reason = path, reason


def exists(checkpoint_dir: Path | None) -> bool:
    return checkpoint_dir is not None and (Path(checkpoint_dir) / LAST).exists()


def save_best(checkpoint_dir: Path, weights: dict, durable: bool = True) -> None:
    _atomic_save(weights, Path(checkpoint_dir) / BEST, durable)


def save_last(checkpoint_dir: Path, trial, durable: bool = True) -> None:
    state = {
        "config": trial.config.to_dict(),
        "precision": trial.precision,
        "model": trial.model.state_dict(),
        "average": trial.average.state_dict() if trial.average is not None else None,
        "optimizer": trial.optimizer.state_dict(),
        "scheduler": trial.scheduler.state_dict() if trial.scheduler is not None else None,
        "scaler": trial.scaler.state_dict(),
        "state": trial.state.to_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(trial.device) if trial.device.type == "cuda" else None,
            "order": trial.order_generator.get_state(),
            "augment": trial.augment_generator.get_state(),
        },
    }
    _atomic_save(state, Path(checkpoint_dir) / LAST, durable)


def load(checkpoint_dir: Path, device: torch.device) -> dict:
    checkpoint = _load(Path(checkpoint_dir) / LAST, device)
    best = Path(checkpoint_dir) / BEST
    checkpoint["best"] = _load(best, device) if best.exists() else None
    return checkpoint


def read_history(checkpoint_dir: Path) -> list[dict]:
    """The epochs a checkpoint has trained (EpochMetrics as dicts), read without loading its tensors."""
    return _load(Path(checkpoint_dir) / LAST, torch.device("cpu"), mmap=True)["state"]["history"]


def check_readable(checkpoint_dir: Path) -> None:
    """Raise UnreadableCheckpoint unless last.pt (and best.pt, when there) read back; cheap: the files
    are mapped, not read, so a truncated file (its zip directory missing) is found at once."""
    for path in (Path(checkpoint_dir) / LAST, Path(checkpoint_dir) / BEST):
        if path.name == LAST or path.exists():
            _load(path, torch.device("cpu"), mmap=True)


def _load(path: Path, device: torch.device, mmap: bool = False) -> dict:
    try:
        if path.stat().st_size == 0:
            raise UnreadableCheckpoint(path, "zero bytes")
        loaded = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except UnreadableCheckpoint:
        raise
    except FileNotFoundError:
        raise UnreadableCheckpoint(path, "missing") from None
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError... for a torn file
        raise UnreadableCheckpoint(path, " ".join(f"{type(err).__name__}: {err}".split())[:160]) from None
    if not isinstance(loaded, dict):
        raise UnreadableCheckpoint(path, f"holds a {type(loaded).__name__}, not a checkpoint")
    return loaded


def restore(trial, checkpoint: dict) -> None:
    """Put a trial back in the state it had when `checkpoint` was written."""
    _check_same_config(trial.config.to_dict(), checkpoint["config"], trial.checkpoint_dir)
    trial.model.load_state_dict(checkpoint["model"])
    if trial.average is not None:
        trial.average.load_state_dict(checkpoint["average"])
    trial.optimizer.load_state_dict(checkpoint["optimizer"])
    trial.scaler.load_state_dict(checkpoint["scaler"])
    trial.state = TrainingState.from_dict(checkpoint["state"])
    # a schedule over steps continues at the step reached, rebuilt for this run's length (more epochs may be asked)
    restore_scheduler(trial.scheduler, checkpoint["scheduler"], trial.state.epoch * trial.steps_per_epoch)
    trial.best_weights = checkpoint["best"]
    rng = checkpoint["rng"]
    torch.set_rng_state(rng["torch"].cpu())
    if rng["cuda"] is not None and trial.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"].cpu(), trial.device)
    trial.order_generator.set_state(rng["order"].cpu())
    trial.augment_generator.set_state(rng["augment"].cpu())


def _check_same_config(current: dict, stored: dict, where: Path) -> None:
    """A checkpoint continues only the run it came from; more epochs may be asked for."""
    for section, values in stored.items():
        for key, value in values.items():
            if (section, key) != ("train", "epochs") and current[section].get(key) != value:
                raise ConfigError(f"{where} holds a checkpoint of a different run ({section}.{key} was "
                                  f"{value!r}, now {current[section].get(key)!r}); use another --out "
                                  f"or the same settings")


def _atomic_save(obj, path: Path, durable: bool = True) -> None:
    """Write aside, then rename (raycnn.atomic). `durable`: fsync the file before and the folder after the
    rename (not for a scratch copy that is copied durably elsewhere: under sustained writes each fsync
    waits for the disk). A full disk or a Ctrl-C leaves the previous checkpoint and no half file."""
    with written_whole(path, durable=durable) as partial, open(partial, "wb") as stream:
        torch.save(obj, stream)     # through a Python stream: a full disk is an OSError, not torch's RuntimeError
