"""Optimizers and learning-rate schedules from a TrainConfig.

Every schedule but reduce_on_plateau is `train.lr` times a factor that depends only on how far
training is (the step, out of epochs x steps per epoch), after `train.warmup_epochs` of linear warmup:
- `constant`: 1;
- `cosine`: from 1 down to 0 along half a cosine;
- `linear`: from 1 down to 0 in a straight line (airbench's shape);
- `onecycle`: up from 1/25 along a cosine for the first 30%, then down to ~0 (its own warmup).
It is stepped after every batch. Because the factor is a function of the position alone, a run
resumed with more epochs continues on the schedule rebuilt for the new length, at the step it
reached (`StepSchedule.start_at`). `reduce_on_plateau` halves (plateau_factor) the rate when the
validation loss has not improved for plateau_patience epochs; it does not depend on the length.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ONECYCLE_RISE, ONECYCLE_START, ONECYCLE_END = 0.3, 1 / 25, 1 / 25e4   # torch's OneCycleLR defaults


def build_optimizer(config, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay)
    return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """The learning rate at `step` (0-based, of `total`) as a share of the peak."""
    if schedule == "onecycle":
        rise = max(1, round(ONECYCLE_RISE * total))
        if step < rise:
            return _cosine_between(ONECYCLE_START, 1.0, step / rise)
        return _cosine_between(1.0, ONECYCLE_END, (step - rise) / max(1, total - rise))
    if step < warmup:
        return (step + 1) / (warmup + 1)
    done = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * done))
    if schedule == "linear":
        return 1.0 - done
    return 1.0


def _cosine_between(start: float, end: float, done: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


class StepSchedule:
    """Sets each parameter group's rate to lr x lr_factor(step) before every training step."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: str, peak: float, total: int, warmup: int):
        self.optimizer, self.schedule, self.peak = optimizer, schedule, peak
        self.total, self.warmup = total, warmup
        self.start_at(0)

    def start_at(self, step: int) -> None:
        """Continue at `step` (a resumed run: epochs done x steps per epoch), for this schedule's length."""
        self.position = step
        self._apply()

    def step(self) -> None:
        self.position += 1
        self._apply()

    def _apply(self) -> None:
        lr = self.peak * lr_factor(self.schedule, min(self.position, self.total - 1), self.total, self.warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        return {"position": self.position}


def build_scheduler(config, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """None (constant, no warmup), ReduceLROnPlateau (stepped per epoch on the validation loss), or a
    StepSchedule over epochs x steps_per_epoch steps (stepped per batch)."""
    if config.schedule == "reduce_on_plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience)
    if config.schedule == "constant" and config.warmup_epochs == 0:
        return None
    return StepSchedule(optimizer, config.schedule, config.lr, config.epochs * steps_per_epoch,
                        round(config.warmup_epochs * steps_per_epoch))


def step_scheduler_after_batch(scheduler) -> None:
    if isinstance(scheduler, StepSchedule):
        scheduler.step()


def step_scheduler_after_epoch(scheduler, val_loss: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)


def restore_scheduler(scheduler, state: dict | None, steps_done: int) -> None:
    """Put a schedule back where a checkpoint left it: a StepSchedule at the step reached (rebuilt for
    the run's length, which may have grown), a plateau schedule from its saved state."""
    if isinstance(scheduler, StepSchedule):
        scheduler.start_at(steps_done)
    elif scheduler is not None and state is not None:
        scheduler.load_state_dict(state)
