"""Tuned comparisons: every grid cell searched on its own (TPE, BOHB or random), then confirmed with fresh seeds.

One Tune experiment runs the tuning stage of every cell at once; `CellSearcher` keeps one
independent searcher per cell (Optuna's TPE through `ray.tune.search.optuna.OptunaSearch`, its
random sampler, or BOHB through `ray.tune.search.bohb.TuneBOHB`), keyed by cell: a cell's
observations never steer another cell's search, and all cells share the cluster. Independent per cell
because the question is each cell at its own best: a shared searcher would spend the trials of a cell
where another cell did well. Each suggestion fills one of the cell's slots (the tuning trials
`expand_trials` listed: their ids, names and tables rows exist from the start). The scheduler runs
per cell too (`CellScheduler`): ASHA, or with BOHB its HyperBand brackets (`HyperBandForBOHB`), which
pause trials at milestones and resume the best (a paused trial's process ends; it continues from its
own checkpoint in RUN_DIR, as after a fault). A trial is only stopped or paused against trials of its
own cell. Tune saves the searcher with its experiment state and `Tuner.restore` brings it back (with
its observations), so `--resume` continues each search.

When every tuning trial has ended (raycnn.sweep.confirm), each cell's best values (highest best validation accuracy among
its trials that ran their full budget, else among all) are trained again with `tune.confirm_seeds`
seeds, every trial to its full budget (FIFO), as a second Tune experiment in RUN_DIR/confirm.
The report compares cells on those confirm trials only.
"""

from __future__ import annotations

import copy
import json

from ray.tune.search import Searcher

from raycnn.sweep.space import Dimension
from raycnn.sweep.tune_bridge import tell_bohb, tell_optuna_front
from runformat import ENDED

CONFIRM = "confirm"


def tune_space(space: tuple[Dimension, ...]) -> dict:
    from ray import tune

    forms = {"uniform": lambda v: tune.uniform(*v), "loguniform": lambda v: tune.loguniform(*v),
             "choice": lambda v: tune.choice(list(v)), "randint": lambda v: tune.randint(int(v[0]), int(v[1]))}
    return {d.key: forms[d.form](d.values) for d in space}


def make_searcher(kind: str, space: tuple[Dimension, ...], metric: str, seed: int,
                  objectives: list[tuple[str, str]] | None = None) -> Searcher:
    """A cell's searcher; its space is keyed by the dotted config names ("train.lr") it suggests. With
    several objectives [(result key, mode)], Optuna's sampler searches their Pareto front."""
    if kind == "bohb":
        import warnings

        from ray.tune.search.bohb import TuneBOHB

        # statsmodels' KDE (BOHB's model) warns on every fit about a future default of its random state
        warnings.filterwarnings("ignore", message="After 0.17", category=FutureWarning)
        return TuneBOHB(space=TuneBOHB.convert_search_space(tune_space(space)), metric=metric, mode="max", seed=seed)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    if objectives and len(objectives) > 1:
        metric, mode = [key for key, _ in objectives], [m for _, m in objectives]
        return OptunaSearch(space=OptunaSearch.convert_search_space(tune_space(space)), metric=metric, mode=mode,
                            sampler=sampler)
    return OptunaSearch(space=OptunaSearch.convert_search_space(tune_space(space)), metric=metric, mode="max",
                        sampler=sampler)


class CellSearcher(Searcher):
    """One searcher per cell; each suggestion fills the next free slot of the cell with fewest given."""

    def __init__(self, slots: dict[str, list[dict]], kind: str, space: tuple[Dimension, ...], metric: str,
                 seed: int = 0, report: str | None = None, run_dir: str | None = None,
                 objectives: list[tuple[str, str]] | None = None):
        super().__init__(metric=metric, mode="max")
        self.objectives = objectives if objectives and len(objectives) > 1 else None   # a Pareto search
        self.report = report                       # RUN_DIR/results/searches.json: each cell's search, for people
        self.run_dir = run_dir                     # its trials table: what ran after Tune's last saved state
        self.reused: dict[str, dict] = {}          # Tune's trial id -> values of a slot that had started
        self.slots = slots
        self.kind = kind
        self.max_running = 0                        # bohb: trials running at once (0: any), paused ones not counted
        self.running: set[str] = set()
        self.given = {cell: 0 for cell in slots}
        self.inner = {cell: make_searcher(kind, space, metric, seed + i, self.objectives)
                      for i, cell in enumerate(slots)}
        self.cell_of: dict[str, str] = {}           # Tune's trial id -> cell
        self.ended: set[str] = set()                # trials whose end their cell's searcher was told
        self.observed = {cell: 0 for cell in slots}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """BOHB: the limit is ours, on running trials. Tune's ConcurrencyLimiter would count paused trials
        too, so HyperBand's brackets would never fill (a bracket waits paused for its other trials) and
        no trial would ever be stopped. TPE and random: Tune's limiter."""
        if self.kind != "bohb":
            return False
        self.max_running = max_concurrent
        return True

    def suggest(self, trial_id: str) -> dict | None:
        open_cells = [c for c in self.slots if self.given[c] < len(self.slots[c])]
        if not open_cells:
            return Searcher.FINISHED
        if self.max_running and len(self.running) >= self.max_running:
            return None
        for cell in sorted(open_cells, key=lambda c: self.given[c]):
            spec = copy.deepcopy(self.slots[cell][self.given[cell]])
            known = self._ran_before(spec["trial_id"])
            if known is not None:
                values, ended, score, epochs = known
                self.given[cell] += 1
                self._skip_one(cell, f"{trial_id}-skipped-{spec['trial_id']}")
                if ended:                          # finished after Tune's last saved state: an observation,
                    if score is not None:          # not a trial to run again
                        self._tell(cell, values, score, epochs)
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
            self.running.add(trial_id)
            for key, value in values.items():
                section, _, name = key.partition(".")
                spec["config"][section][name] = value
            spec["values"] = {**spec["values"], **values}
            spec["tuned"] = values
            return {"trial": spec}
        return None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self._suggested(trial_id) and self.metric in result:
            self.inner[self.cell_of[trial_id]].on_trial_result(trial_id, result)

    def on_pause(self, trial_id: str) -> None:
        """HyperBand (BOHB) paused the trial at a milestone: its cell's searcher counts it as paused."""
        self.running.discard(trial_id)
        if self._suggested(trial_id):
            self.inner[self.cell_of[trial_id]].on_pause(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self.running.add(trial_id)
        if self._suggested(trial_id):
            self.inner[self.cell_of[trial_id]].on_unpause(trial_id)

    def _suggested(self, trial_id: str) -> bool:
        """Whether a cell's searcher suggested this trial (not a slot that kept its values after a kill) and
        still follows it. Not once it was told the trial ended: Tune copies its saved state to the run folder
        in the background, file by file, so after a kill its trial list can be older than its searcher's
        (a trial paused in one, stopped by HyperBand in the other); Tune then resumes the trial, and its
        results and end reach a searcher that has let it go (TuneBOHB raised KeyError and the resume died)."""
        return trial_id in self.cell_of and trial_id not in self.reused and trial_id not in self.ended

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        cell = self.cell_of.get(trial_id)
        self.running.discard(trial_id)
        if cell is None or trial_id in self.ended:  # told once (see _suggested)
            return
        self.ended.add(trial_id)
        usable = result is not None and all(result.get(key) is not None for key in self._keys())
        if trial_id in self.reused:                # the inner searcher never suggested it: tell it the outcome
            if usable and not error:
                self._tell(cell, self.reused[trial_id], self._score(result), result.get("epoch") or 1)
        else:
            self.inner[cell].on_trial_complete(trial_id, result if usable else None, error=error or not usable)
        self.observed[cell] += 1
        self._write_report()

    def _keys(self) -> list[str]:
        return [key for key, _ in self.objectives] if self.objectives else [self.metric]

    def _score(self, result: dict) -> float | list[float]:
        """What the cell's searcher is told: the accuracy, or with several objectives each of them."""
        return [result[key] for key in self._keys()] if self.objectives else result[self.metric]

    def _write_report(self) -> None:
        """{cell: {given, observed, slots}}: what each search has done (kept across --resume)."""
        if not self.report:
            return
        from raycnn.atomic import written_whole

        text = json.dumps({c: {"given": self.given[c], "observed": self.observed[c], "slots": len(self.slots[c])}
                           for c in self.slots}, indent=2)
        try:
            with written_whole(self.report) as partial:
                partial.write_text(text)
        except OSError:               # informational only: a full disk is handled by the tables
            pass

    def _tell(self, cell: str, values: dict, score: float | list[float], epochs: int) -> None:
        """An outcome the cell's searcher did not see through its own trial: a slot that ran on after
        Tune's last save. BOHB takes it as a result at a budget of the epochs that slot ran."""
        inner = self.inner[cell]
        if self.kind == "bohb":                    # TuneBOHB has no add_evaluated_point
            tell_bohb(inner, values, score, epochs)
        elif isinstance(score, list):              # OptunaSearch.add_evaluated_point takes one value
            tell_optuna_front(inner, values, score)
        else:
            inner.add_evaluated_point(dict(values), score)

    def _skip_one(self, cell: str, dummy: str) -> None:
        """Draw (and drop) the suggestion the cell's searcher made for this slot before the driver died:
        its state is from Tune's last save, so without this it would hand the next slot the same values
        the reused slot already has."""
        if self.inner[cell].suggest(dummy) not in (None, Searcher.FINISHED):
            self.inner[cell].on_trial_complete(dummy, None, error=True)

    def _ran_before(self, trial_id: str) -> tuple[dict, bool, float | list[float] | None, int] | None:
        """(values, ended, best validation accuracy, epochs run) of a slot the trials table shows started (by a driver
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
        ended = row["status"] in ENDED
        score = row.get("best_val_accuracy")
        if self.objectives:
            score = [row.get(key) for key in self._keys()]
            score = None if any(v is None for v in score) else score
        return json.loads(row["tuned"]), ended, score, row.get("epochs_completed") or 0

    def __getstate__(self) -> dict:
        """Pickled (by Tune, directly or inside its ConcurrencyLimiter) without the table read: a restored
        searcher reads the table again, as it is when the sweep resumes."""
        return {k: v for k, v in self.__dict__.items() if k != "_table"}

    def __setstate__(self, state: dict) -> None:
        """Also a searcher saved by raycnn before `ended` existed (a run resumed after an upgrade)."""
        self.__dict__.update({"ended": set(), **state})

    def save(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "wb") as out:
            pickle.dump(self.__getstate__(), out)

    def restore(self, checkpoint_path: str) -> None:
        import pickle

        with open(checkpoint_path, "rb") as read:
            self.__setstate__(pickle.load(read))
        self._table = None


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
