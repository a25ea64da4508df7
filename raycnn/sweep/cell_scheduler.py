"""The scheduler of a tuned sweep's tuning stage: one ASHA, or one of BOHB's HyperBand bracket schedulers,
per cell, so that a trial is only compared with (stopped, paused and resumed against) trials of its own
cell. It composes Tune's public TrialScheduler interface; the one behaviour of HyperBand it needs that has
no public API (which trials count as running) goes through `tune_bridge.CellView`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from raycnn.sweep.tune_bridge import CellView

if TYPE_CHECKING:
    from raycnn.sweep.tuned import CellSearcher


class CellScheduler(FIFOScheduler):
    """One scheduler per cell, ASHA or BOHB's HyperBand brackets ("hyperband"): a trial is only compared
    with (stopped, paused and resumed against) trials of its own cell. Each cell's scheduler sees the
    experiment through `tune_bridge.CellView`, which lists the cell's trials only: HyperBand decides that a bracket
    can move on when none of its trials runs, which must not wait for other cells' trials."""

    def __init__(self, kind: str = "asha", searcher: CellSearcher | None = None, **options: Any):
        super().__init__()
        self.kind, self.options = kind, options
        self.searcher = searcher                     # which cells still have slots to give
        self.by_cell: dict[str, TrialScheduler] = {}

    def _of(self, trial) -> TrialScheduler:
        cell = _cell(trial)
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
        self._of(trial).on_trial_add(CellView(tune_controller, _cell(trial), _cell), trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self._of(trial).on_trial_result(CellView(tune_controller, _cell(trial), _cell), trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._of(trial).on_trial_complete(CellView(tune_controller, _cell(trial), _cell), trial, result)

    def on_trial_error(self, tune_controller, trial) -> None:
        self._of(trial).on_trial_error(CellView(tune_controller, _cell(trial), _cell), trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._of(trial).on_trial_remove(CellView(tune_controller, _cell(trial), _cell), trial)

    def choose_trial_to_run(self, tune_controller):
        if self.kind != "hyperband":                 # ASHA: any pending or paused trial, as FIFO
            return super().choose_trial_to_run(tune_controller)
        for cell, scheduler in self.by_cell.items():   # HyperBand: the brackets say which may run
            coming = self.searcher is not None and self.searcher.given[cell] < len(self.searcher.slots[cell])
            trial = scheduler.choose_trial_to_run(CellView(tune_controller, cell, _cell, coming))
            if trial is not None:
                return trial
        return None

    def debug_string(self) -> str:
        return f"{'HyperBand (BOHB)' if self.kind == 'hyperband' else 'ASHA'} per cell ({len(self.by_cell)} cells)"


def _cell(trial) -> str:
    return trial.config["trial"].get("cell") or ""
