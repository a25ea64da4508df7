"""The scheduler of a tuned sweep's tuning stage: one ASHA, or one of BOHB's HyperBand bracket schedulers,
per cell, so that a trial is only compared with (stopped, paused and resumed against) trials of its own
cell; and a plain sweep's ASHA, one per dataset. It composes Tune's public TrialScheduler interface; the
one behaviour of HyperBand it needs that has no public API (which trials count as running) goes through
`tune_bridge.CellView`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from raycnn.sweep.tune_bridge import CellView

if TYPE_CHECKING:
    from raycnn.sweep.tuned import CellSearcher


class CellScheduler(FIFOScheduler):
    """One scheduler per cell, ASHA or BOHB's HyperBand brackets ("hyperband"): a trial is only compared
    with (stopped, paused and resumed against) trials of its own cell. Each cell's scheduler sees the
    experiment through `tune_bridge.CellView`, which lists the cell's trials only: HyperBand decides that a bracket
    can move on when none of its trials runs, which must not wait for other cells' trials."""

    def __init__(self, kind: str = "asha", searcher: CellSearcher | None = None,
                 group: Callable[[Any], str] | None = None, **options: Any):
        super().__init__()
        self.kind, self.options = kind, options
        self.searcher = searcher                     # which cells still have slots to give
        self.group = group or _cell                  # which trials are compared: a tuned sweep's cell, or dataset_of
        self.by_cell: dict[str, TrialScheduler] = {}

    def __setstate__(self, state: dict) -> None:
        """Also a scheduler pickled (in Tune's tuner.pkl) before `group` existed: a run resumed after an upgrade."""
        self.__dict__.update({"group": _cell, **state})

    def _view(self, tune_controller, trial) -> CellView:
        return CellView(tune_controller, self.group(trial), self.group)

    def _of(self, trial) -> TrialScheduler:
        cell = self.group(trial)
        if cell not in self.by_cell:
            if self.kind == "hyperband":
                from ray.tune.schedulers import HyperBandForBOHB

                self.by_cell[cell] = HyperBandForBOHB(**self.options)
            else:
                self.by_cell[cell] = ASHAScheduler(**self.options)
        return self.by_cell[cell]

    def on_trial_add(self, tune_controller, trial) -> None:
        if trial.status == trial.TERMINATED:        # a restored trial that had ended: in a bracket it would
            return                                  # count as live and never report, and the bracket would stall
        self._of(trial).on_trial_add(self._view(tune_controller, trial), trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self._of(trial).on_trial_result(self._view(tune_controller, trial), trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._of(trial).on_trial_complete(self._view(tune_controller, trial), trial, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        self._of(trial).on_trial_error(self._view(tune_controller, trial), trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._of(trial).on_trial_remove(self._view(tune_controller, trial), trial)

    def choose_trial_to_run(self, tune_controller):
        if self.kind != "hyperband":                 # ASHA: any pending or paused trial, as FIFO
            return super().choose_trial_to_run(tune_controller)
        for cell, scheduler in self.by_cell.items():   # HyperBand: the brackets say which may run
            coming = self.searcher is not None and self.searcher.given[cell] < len(self.searcher.slots[cell])
            trial = scheduler.choose_trial_to_run(CellView(tune_controller, cell, self.group, coming))
            if trial is not None:
                return trial
        return None

    def debug_string(self) -> str:
        return f"{'HyperBand (BOHB)' if self.kind == 'hyperband' else 'ASHA'} per group ({len(self.by_cell)} groups)"


def _cell(trial) -> str:
    return trial.config["trial"].get("cell") or ""


def dataset_of(trial) -> str:
    """What a plain sweep's ASHA compares a trial with: trials on the same data. One ASHA over several
    datasets ranks accuracies that do not compare (on MNIST and CIFAR-10 it stopped every CIFAR-10 trial
    at the first rung)."""
    data = trial.config["trial"]["config"]["data"]
    return f"{data['dataset']}:{data.get('data_path') or ''}"
