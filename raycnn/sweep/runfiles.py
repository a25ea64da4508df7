"""What a run folder records before any trial: RUN_DIR/sweep.yaml (the resolved sweep, every trial's full
config, the user code it names), environment.json, and a copy of each user code file that trials load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from raycnn.sweep.spec import SweepConfig, TrialSpec
from raycnn.sweep.storage import RunStorage


def run_directory(sweep: SweepConfig) -> str:
    """RUN_DIR: storage/name, an absolute folder or a URI."""
    return f"{RunStorage(sweep.storage).location}/{sweep.name}"


def trial_dicts(trials: list[TrialSpec]) -> list[dict]:
    return [{"trial_id": t.trial_id, "name": t.name, "config": t.config.to_dict(), "values": t.values,
             **({"stage": t.stage, "cell": t.cell} if t.stage else {}),
             **({"tuned": t.tuned} if t.tuned else {})} for t in trials]


def resolved_sweep(sweep: SweepConfig, trials: list[TrialSpec]) -> dict:
    """The sweep as RUN_DIR/sweep.yaml records it: every trial spelled out."""
    return {"name": sweep.name, "question": sweep.question, "source": sweep.source,
            "fixed": sweep.fixed.to_dict(),
            "space": {d.key: {d.form: list(d.values)} for d in sweep.space},
            "num_samples": sweep.num_samples, "seeds": sweep.seeds,
            "scheduler": dataclasses.asdict(sweep.scheduler), "resources": dataclasses.asdict(sweep.resources),
            "max_concurrent": sweep.max_concurrent, "storage": sweep.storage,
            "max_failures": sweep.max_failures, "trackers": list(sweep.trackers), "trials": trial_dicts(trials),
            **({"tune": {**dataclasses.asdict(sweep.tune), "space": {d.key: {d.form: list(d.values)}
                                                                     for d in sweep.tune.space}}}
               if sweep.tune else {})}


def user_code(trials: list[TrialSpec]) -> dict[str, dict]:
    """ref -> {ref, path, sha256, git_commit, git_dirty} of every user model or dataset the trials name."""
    from raycnn import code

    found: dict[str, dict] = {}
    for trial in trials:
        for ref in code.refs(trial.config):
            found.setdefault(ref, code.record(ref))
    return found


def code_copy(record: dict) -> str | None:
    """Where RUN_DIR keeps a copy of a file reference's code (None for an importable module)."""
    from raycnn import code

    return f"code/{record['sha256'][:12]}/{Path(record['path']).name}" if code.is_file_ref(record["ref"]) else None


def write_run_files(storage: RunStorage, sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    from raycnn.environment import environment_record
    from raycnn.precision import resolve_device
    import ray

    records = user_code(trials)
    for record in records.values():            # the code that ran, beside its results; trials load it
        if code_copy(record):
            storage.write_text(code_copy(record), Path(record["path"]).read_text())
    storage.write_text("sweep.yaml", yaml.safe_dump({**resolved_sweep(sweep, trials), "code": list(records.values())},
                                                    sort_keys=False))
    environment = environment_record(resolve_device("auto"))
    environment["nodes"] = [{"host": n.get("NodeManagerHostname"), "resources": n.get("Resources")}
                            for n in ray.nodes() if n.get("Alive")]
    storage.write_text("environment.json", json.dumps(environment, indent=2))
