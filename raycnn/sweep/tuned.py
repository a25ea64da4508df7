"""Tuned comparisons: every grid cell searched on its own (TPE or random), then confirmed with fresh seeds.

One Tune experiment runs the tuning stage of every cell at once; `CellSearcher` keeps one
independent searcher per cell (Optuna's TPE through `ray.tune.search.optuna.OptunaSearch`, or its
random sampler), keyed by cell: a cell's observations never steer another cell's search, and all cells
share the cluster. Independent per cell because the question is each cell at its own best: a shared
searcher would spend the trials of a cell where another cell did well. Each suggestion fills one of
the cell's slots (the tuning trials `expand_trials` listed: their ids, names and tables rows exist
from the start). ASHA, when the sweep asks for it, runs per cell too (`CellScheduler`): a trial is
only stopped against trials of its own cell. Tune saves the searcher with its experiment state and
`Tuner.restore` brings it back (with its observations), so `--resume` continues each search.

When every tuning trial has ended, each cell's best values (highest best validation accuracy among
its trials that ran their full budget, else among all) are trained again with `tune.confirm_seeds`
seeds, every trial to its full budget (FIFO), as a second Tune experiment in RUN_DIR/confirm.
The report compares cells on those confirm trials only.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from raycnn.errors import ConfigError
from raycnn.sweep.spec import Dimension, SweepConfig, TrialSpec, confirm_trials

CONFIRM = "confirm"


def tune_space(space: tuple[Dimension, ...]) -> dict:
    from ray import tune

    forms = {"uniform": lambda v: tune.uniform(*v), "loguniform": lambda v: tune.loguniform(*v),
             "choice": lambda v: tune.choice(list(v)), "randint": lambda v: tune.randint(int(v[0]), int(v[1]))}
    return {d.key: forms[d.form](d.values) for d in space}


def make_searcher(kind: str, space: tuple[Dimension, ...], metric: str, seed: int) -> Searcher:
    """A cell's searcher; its space is keyed by the dotted config names ("train.lr") it suggests."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    return OptunaSearch(space=OptunaSearch.convert_search_space(tune_space(space)), metric=metric, mode="max",
                        sampler=sampler)


class CellSearcher(Searcher):
    """One searcher per cell; each suggestion fills the next free slot of the cell with fewest given."""

    def __init__(self, slots: dict[str, list[dict]], kind: str, space: tuple[Dimension, ...], metric: str,
                 seed: int = 0, report: str | None = None, run_dir: str | None = None):
        super().__init__(metric=metric, mode="max")
        self.report = report                       # RUN_DIR/results/searches.json: each cell's search, for people
        self.run_dir = run_dir                     # its trials table: what ran after Tune's last saved state
        self.reused: dict[str, dict] = {}          # Tune's trial id -> values of a slot that had started
        self.slots = slots
        self.given = {cell: 0 for cell in slots}
        self.inner = {cell: make_searcher(kind, space, metric, seed + i) for i, cell in enumerate(slots)}
        self.cell_of: dict[str, str] = {}           # Tune's trial id -> cell
        self.observed = {cell: 0 for cell in slots}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict | None:
        open_cells = [c for c in self.slots if self.given[c] < len(self.slots[c])]
        if not open_cells:
            return Searcher.FINISHED
        for cell in sorted(open_cells, key=lambda c: self.given[c]):
            spec = copy.deepcopy(self.slots[cell][self.given[cell]])
            known = self._ran_before(spec["trial_id"])
            if known is not None:
                values, ended, score = known
                self.given[cell] += 1
                self._skip_one(cell, f"{trial_id}-skipped-{spec['trial_id']}")
                if ended:                          # finished after Tune's last saved state: an observation,
                    if score is not None:          # not a trial to run again
                        self.inner[cell].add_evaluated_point(dict(values), score)
                    self.observed[cell] += 1
                    self._write_report()
                    return self.suggest(trial_id)
                self.reused[trial_id] = values     # started, not finished: it continues with its own values
            else:
                values = self.inner[cell].suggest(trial_id)
                if values in (None, Searcher.FINISHED):
                    continue
                self.given[cell] += 1
                values = {k: _plain(v) for k, v in _flat(values).items()}
            self.cell_of[trial_id] = cell
            for key, value in values.items():
                section, _, name = key.partition(".")
                spec["config"][section][name] = value
            spec["values"] = {**spec["values"], **values}
            spec["tuned"] = values
            return {"trial": spec}
        return None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.cell_of and trial_id not in self.reused and self.metric in result:
            self.inner[self.cell_of[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        cell = self.cell_of.get(trial_id)
        if cell is None:
            return
        usable = result is not None and self.metric in result
        if trial_id in self.reused:                # the inner searcher never suggested it: tell it the outcome
            if usable and not error:
                self.inner[cell].add_evaluated_point(dict(self.reused[trial_id]), result[self.metric])
        else:
            self.inner[cell].on_trial_complete(trial_id, result if usable else None, error=error or not usable)
        self.observed[cell] += 1
        self._write_report()

    def _write_report(self) -> None:
        """{cell: {given, observed, slots}}: what each search has done (kept across --resume)."""
        if not self.report:
            return
        import os

        text = json.dumps({c: {"given": self.given[c], "observed": self.observed[c], "slots": len(self.slots[c])}
                           for c in self.slots}, indent=2)
        partial = f"{self.report}.tmp"
        try:
            with open(partial, "w") as out:
                out.write(text)
            os.replace(partial, self.report)
        except OSError:               # informational only: a full disk is handled by the tables
            pass

    def _skip_one(self, cell: str, dummy: str) -> None:
        """Draw (and drop) the suggestion the cell's searcher made for this slot before the driver died:
        its state is from Tune's last save, so without this it would hand the next slot the same values
        the reused slot already has."""
        if self.inner[cell].suggest(dummy) not in (None, Searcher.FINISHED):
            self.inner[cell].on_trial_complete(dummy, None, error=True)

    def _ran_before(self, trial_id: str) -> tuple[dict, bool, float | None] | None:
        """(values, ended, best validation accuracy) of a slot the trials table shows started (by a driver
        killed after Tune last saved its state), else None. The table is read once per process."""
        if not self.run_dir:
            return None
        if getattr(self, "_table", None) is None:
            from raycnn.sweep.results import table_folder
            from raycnn.sweep.storage import RunStorage

            table = RunStorage(self.run_dir).read_table(table_folder("trials"))
            self._table = {r["trial_id"]: r for r in (table.to_pylist() if table is not None else [])}
        row = self._table.get(trial_id)
        if not row or not row.get("tuned"):
            return None
        ended = row["status"] in ("completed", "early_stopped", "diverged", "oom", "error")
        return json.loads(row["tuned"]), ended, row.get("best_val_accuracy")

    def __getstate__(self) -> dict:
        """Pickled (by Tune, directly or inside its ConcurrencyLimiter) without the table read: a restored
        searcher reads the table again, as it is when the sweep resumes."""
        return {k: v for k, v in self.__dict__.items() if k != "_table"}

    def save(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "wb") as out:
            pickle.dump(self.__getstate__(), out)

    def restore(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "rb") as read:
            self.__dict__.update(pickle.load(read))
        self._table = None


class CellScheduler(FIFOScheduler):
    """ASHA per cell: each cell's trials are compared with each other only."""

    def __init__(self, **asha: Any):
        super().__init__()
        self.asha = asha
        self.by_cell: dict[str, ASHAScheduler] = {}

    def _of(self, trial) -> ASHAScheduler:
        cell = trial.config["trial"].get("cell") or ""
        if cell not in self.by_cell:
            self.by_cell[cell] = ASHAScheduler(**self.asha)
        return self.by_cell[cell]

    def on_trial_add(self, tune_controller, trial) -> None:
        self._of(trial).on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self._of(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._of(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._of(trial).on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return f"ASHA per cell ({len(self.by_cell)} cells)"


def best_values(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """{cell: the tuned values of its best tuning trial} (best validation accuracy; full runs first)."""
    best: dict[str, dict[str, Any]] = {}
    for cell in sorted({r["cell"] for r in rows if r.get("stage") == "tune"}):
        mine = [r for r in rows if r.get("stage") == "tune" and r["cell"] == cell and r.get("tuned")
                and r.get("best_val_accuracy") is not None]
        full = [r for r in mine if r["status"] == "completed"] or mine
        if not full:
            raise ConfigError(f"cell {cell}: no tuning trial finished with a validation accuracy; "
                               f"nothing to confirm (see the trials table's error column)")
        top = max(full, key=lambda r: (r["best_val_accuracy"], -int(r["trial_id"][1:])))
        best[cell] = json.loads(top["tuned"])
    return best


def tuning_done(rows: list[dict]) -> bool:
    ended = ("completed", "early_stopped", "diverged", "oom", "error")
    tune_rows = [r for r in rows if r.get("stage") == "tune"]
    return bool(tune_rows) and all(r["status"] in ended for r in tune_rows)


def confirm_stage(sweep: SweepConfig, slots: list[TrialSpec], rows: list[dict]) -> list[TrialSpec]:
    return confirm_trials(sweep, best_values(rows), len(slots) + 1)


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _plain(value):
    return value.item() if hasattr(value, "item") else value
