"""The confirm stage of a tuned comparison: once every search has ended, which tuning values each cell
trains again with fresh seeds: its best (highest best validation accuracy, full runs first), or with
several objectives the members of its Pareto front."""

from __future__ import annotations

import json
from typing import Any

from raycnn.errors import ConfigError
from raycnn.sweep.expand import confirm_trials
from raycnn.sweep.spec import SweepConfig, TrialSpec
from runformat import ENDED


def best_values(rows: list[dict]) -> dict[str, list[dict[str, Any]]]:
    """{cell: [the tuned values of its best tuning trial]} (best validation accuracy; full runs first)."""
    return {cell: [json.loads(max(mine, key=lambda r: (r["best_val_accuracy"], -int(r["trial_id"][1:])))["tuned"])]
            for cell, mine in _finished_by_cell(rows, ["best_val_accuracy"]).items()}


def front_values(rows: list[dict], objectives: list[tuple[str, str]], limit: int) -> dict[str, list[dict[str, Any]]]:
    """{cell: the tuned values of the members of its Pareto front}, most accurate first; with more than
    `limit` members, `limit` of them spread evenly along the front (its two ends always kept)."""
    found = {}
    for cell, mine in _finished_by_cell(rows, [key for key, _ in objectives]).items():
        signed = [[r[key] if mode == "max" else -r[key] for key, mode in objectives] for r in mine]
        front = [r for r, s in zip(mine, signed) if not any(_dominates(o, s) for o in signed)]
        front = sorted({r["tuned"]: r for r in front}.values(), key=lambda r: (-r[objectives[0][0]], r["trial_id"]))
        if len(front) > limit:
            front = [front[round(i * (len(front) - 1) / max(limit - 1, 1))] for i in range(limit)]
        found[cell] = [json.loads(r["tuned"]) for r in front]
    return found


def _dominates(a: list[float], b: list[float]) -> bool:
    """Whether a is at least as good as b in every objective (all maximised here) and better in one."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def _finished_by_cell(rows: list[dict], keys: list[str]) -> dict[str, list[dict]]:
    """{cell: its tuning trials with every key, the full runs only where it has any}; a cell with none is refused."""
    found = {}
    for cell in sorted({r["cell"] for r in rows if r.get("stage") == "tune"}):
        mine = [r for r in rows if r.get("stage") == "tune" and r["cell"] == cell and r.get("tuned")
                and all(r.get(k) is not None for k in keys)]
        found[cell] = [r for r in mine if r["status"] == "completed"] or mine
        if not found[cell]:
            raise ConfigError(f"cell {cell}: no tuning trial finished with a validation accuracy; "
                              f"nothing to confirm (see the trials table's error column)")
    return found


def tuning_done(rows: list[dict]) -> bool:
    tune_rows = [r for r in rows if r.get("stage") == "tune"]
    return bool(tune_rows) and all(r["status"] in ENDED for r in tune_rows)


def confirm_stage(sweep: SweepConfig, slots: list[TrialSpec], rows: list[dict]) -> list[TrialSpec]:
    """Each cell's best values, or with several objectives the members of its front (up to
    tune.confirm_front), each with tune.confirm_seeds fresh seeds."""
    chosen = (front_values(rows, sweep.tune.metrics(), sweep.tune.confirm_front) if sweep.tune.multi
              else best_values(rows))
    return confirm_trials(sweep, chosen, len(slots) + 1)
