"""Starting, or continuing, a run folder: a run is never overwritten, resumed when it is not there, or
resumed with another study (what changed is named); storage that cannot take it is refused; Ray Tune's
saved state is checked before Tune reads it. All before Ray starts."""

from __future__ import annotations

import json

import yaml

from raycnn.errors import ConfigError
from raycnn.sweep.runfiles import resolved_sweep, run_directory, user_code
from raycnn.sweep.spec import TrialSpec, SweepConfig
from raycnn.sweep.storage import RESULTS, RunStorage, check_writable
from raycnn.sweep.tune_bridge import tune_state_files


def check_run_directory(sweep: SweepConfig, trials: list[TrialSpec], resume: bool) -> None:
    """Refuse to overwrite a run, to resume one that is not there, or to resume it with another study;
    refuse storage that cannot take the run (read-only, missing its parent, a full disk)."""
    run_dir = run_directory(sweep)
    storage = RunStorage(run_dir)
    check_writable(RunStorage(sweep.storage), "storage")
    exists = storage.exists("sweep.yaml")
    if exists and not resume:
        raise ConfigError(f"{run_dir} already holds a sweep named {sweep.name!r}; pass --resume to continue "
                          f"it, or --name NEW to start another")
    if resume and not exists:
        raise ConfigError(f"--resume: {run_dir} holds no sweep to continue; drop --resume to start it")
    if resume:
        check_tune_state(storage)
        stored = yaml.safe_load(storage.read_text("sweep.yaml")) or {}
        changes = study_changes(stored, resolved_sweep(sweep, trials)) + code_changes(stored, trials)
        if changes:
            raise ConfigError(f"--resume: {sweep.source} has changed since {run_dir} was started ("
                              f"{'; '.join(changes)}); resuming would mix two studies in one table: undo the "
                              f"edit, or run it as a new sweep with --name NEW")


def code_changes(stored: dict, trials: list[TrialSpec]) -> list[str]:
    """User code whose content differs from what the run started with."""
    before = {r["ref"]: r["sha256"] for r in stored.get("code") or []}
    return [f"{ref} (content {before[ref][:12]} -> {r['sha256'][:12]})" for ref, r in user_code(trials).items()
            if ref in before and before[ref] != r["sha256"]]


def check_tune_state(storage: RunStorage) -> None:
    """Ray Tune resumes from RUN_DIR/experiment_state-*.json, which Tune copies there without a rename:
    a disk that filled during that copy leaves it cut short. Say so before Ray starts, not in a traceback."""
    if not storage.local:
        return
    states = tune_state_files(storage.root)
    if not states:
        raise ConfigError(f"--resume: {storage.location} holds no Ray Tune state (the sweep was stopped before "
                          f"Tune started); run it again with --name NEW, or remove the folder")
    try:
        json.loads(states[-1].read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"--resume: Ray Tune's saved state {states[-1]} is cut short ({type(err).__name__}: "
                          f"{err}; a disk that filled or a kill while Tune copied it); Tune cannot resume this run: "
                          f"its results so far stay in {storage.location}/{RESULTS}; run the sweep again with "
                          f"--name NEW") from None


STUDY_KEYS = ("fixed", "space", "num_samples", "seeds", "scheduler", "tune")   # what makes a study (trials follow)


def study_changes(stored: dict, current: dict, limit: int = 6) -> list[str]:
    """What differs between two resolved sweeps in what they study, as 'key: old -> new' (at most `limit`)."""
    changes = [f"{key}: {_short(old)} -> {_short(new)}" for key, old, new in
               _differences({k: stored.get(k) for k in STUDY_KEYS}, {k: current.get(k) for k in STUDY_KEYS})]
    old_trials, new_trials = stored.get("trials") or [], current.get("trials") or []
    if len(old_trials) != len(new_trials):
        changes.append(f"trials: {len(old_trials)} -> {len(new_trials)}")
    elif not changes:           # same grid, other trials (variants edited): name the first that differs
        for old, new in zip(old_trials, new_trials):
            found = list(_differences(old, new))
            if found:
                key, was, now = found[0]
                changes.append(f"{old.get('trial_id')} {key}: {_short(was)} -> {_short(now)}")
                break
    return changes[:limit] + ([f"and {len(changes) - limit} more"] if len(changes) > limit else [])


def _differences(old, new, prefix: str = ""):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from _differences(old.get(key), new.get(key), f"{prefix}{key}.")
    elif old != new and not (isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and list(old) == list(new)):
        yield prefix.rstrip("."), old, new


def _short(value) -> str:
    text = "(none)" if value is None else json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
