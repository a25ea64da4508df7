"""Check every trial of a sweep before Ray starts: data present or downloadable, model buildable; and the
schedule the trials make (ASHA's first rung within the longest trial).

Models are built for their shapes only (raycnn.models.build_for_shapes), once per distinct architecture x
options x kernel size x input shape; datasets are described once each.
"""

from __future__ import annotations

from dataclasses import dataclass


from raycnn.data import describe_dataset
from raycnn.errors import ConfigError, RaycnnError
from raycnn.models import build_for_shapes
from raycnn.sweep.hyperband import scheduler_max_t
from raycnn.sweep.spec import SweepConfig, TrialSpec


@dataclass(frozen=True)
class Problem:
    trial: TrialSpec
    message: str


def check_schedule(sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    """ASHA stops trials from scheduler.grace_period epochs on, which must not be past the longest trial."""
    if sweep.scheduler.kind != "asha" or not trials:
        return
    longest = scheduler_max_t(sweep, trials)
    if sweep.scheduler.grace_period > longest:
        raise ConfigError(f"{sweep.source}: scheduler.grace_period {sweep.scheduler.grace_period} is past the "
                          f"{longest} epoch{'s' if longest > 1 else ''} of the longest trial; lower it "
                          f"(--set scheduler.grace_period={longest}) "
                          f"or raise train.epochs")


def find_problems(sweep: SweepConfig, trials: list[TrialSpec]) -> list[Problem]:
    """One Problem per trial that cannot run, with the reason (all trials are checked)."""
    data_answers: dict = {}
    model_answers: dict = {}
    problems = []
    for trial in trials:
        message = _check_trial(sweep, trial, data_answers, model_answers)
        if message:
            problems.append(Problem(trial, message))
    return problems


def _check_trial(sweep: SweepConfig, trial: TrialSpec, data_answers: dict, model_answers: dict) -> str | None:
    config = trial.config
    max_epochs = sweep.scheduler.max_epochs
    if sweep.scheduler.kind == "asha" and max_epochs is not None and max_epochs > config.train.epochs:
        return (f"scheduler.max_epochs {max_epochs} exceeds train.epochs {config.train.epochs}; "
                f"raise train.epochs or lower max_epochs")
    info = _memo(data_answers, config.data, lambda: describe_dataset(config.data))
    if isinstance(info, str):
        return info
    model_key = (config.model, info)
    return _memo(model_answers, model_key, lambda: _dry_build(config.model, info))


def _dry_build(model, info) -> None:
    build_for_shapes(model.arch, in_channels=info.channels, num_classes=info.num_classes,
                     input_size=info.size, kernel_size=model.kernel_size, **model.options())


def _memo(answers: dict, key, compute):
    """compute() once per key; a RaycnnError becomes its message."""
    if key not in answers:
        try:
            answers[key] = compute()
        except RaycnnError as err:
            answers[key] = str(err)
    return answers[key]
