"""`fit(config, report) -> FitResult`: one trial in plain PyTorch, no Ray.

    from raycnn.config import run_config_from_dict
    from raycnn.fit import fit
    result = fit(run_config_from_dict({"train": {"epochs": 10}}), report=print)

Each epoch trains on the augmented training split, evaluates on the validation split, steps the
schedule, keeps the best-validation weights, writes a checkpoint (when `out_dir` is given) and calls
`report(EpochMetrics)`; a report that returns True stops training (a sweep scheduler uses this).
Training also stops early after `train.early_stopping` epochs without a better validation accuracy.
The test set is evaluated once, at the end, with the best-validation weights.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from raycnn import checkpoint as ckpt
from raycnn.averaging import evaluated_model
from raycnn.batches import batch_slices, epoch_order, gathered
from raycnn.config import RunConfig
from raycnn.environment import device_name
from raycnn.errors import RaycnnError
from raycnn.evaluation import TestEvaluation, evaluate, evaluate_test
from raycnn.models import build_for_shapes, count_parameters
from raycnn.optim import step_scheduler_after_batch, step_scheduler_after_epoch
from raycnn.precision import autocast
from raycnn.trial import Trial, prepare_trial
from raycnn.training_state import EpochMetrics


Report = Callable[[EpochMetrics], "bool | None"]


@dataclass(frozen=True)
class FitResult:
    status: str                      # completed | early_stopped | stopped (by the report callback)
    test_accuracy: float
    test_loss: float
    val_accuracy: float              # best validation accuracy (the weights that were tested)
    best_epoch: int
    params: int                      # trainable parameters
    train_seconds: float
    train_images_per_second: float
    epochs_completed: int
    classes: tuple[str, ...]
    per_class: list[dict]            # {class, precision, recall, f1, support} on the test set
    confusion: list[list[int]]       # rows = true class, columns = predicted class
    precision: str                   # numeric precision the trial ran in (fp32, bf16, fp16)
    device: str
    history: list[EpochMetrics]
    misclassified: list[dict] = field(default_factory=list)  # first few test errors: {index, true, pred}

    def to_dict(self) -> dict:
        return asdict(self)

    def test_evaluation(self) -> "TestEvaluation":
        return TestEvaluation(self.test_accuracy, self.test_loss, self.per_class, self.confusion, self.misclassified)


class TrainingDiverged(RaycnnError):
    """The training loss became NaN or infinite."""


def fit(config: RunConfig, report: Report | None = None, out_dir: str | Path | None = None,
        resume: bool = False, progress: bool = False,
        on_improvement: Callable[[TestEvaluation], None] | None = None,
        durable_checkpoints: bool = True, gpu_share: float = 1.0,
        on_start: Callable[[dict], None] | None = None) -> FitResult:
    """Train and test one configuration. With `out_dir`, checkpoint every epoch into
    OUT/checkpoints; with `resume`, continue from the checkpoint there if one exists.
    `on_improvement(TestEvaluation)` is called whenever the validation accuracy improves, with the
    test results of the new best weights (before that epoch's checkpoint is written): a run that
    is killed later (a sweep scheduler stopping it) has its final test results already.
    `durable_checkpoints=False` skips the fsyncs, for a scratch folder its caller copies durably.
    `gpu_share`: the trial's share of its GPU (raycnn.gpu). `on_start({precision, device, device_name})`
    is called once the trial is prepared, before its first epoch."""
    trial = prepare_trial(config, out_dir, resume, gpu_share)
    if on_start is not None:
        on_start({"precision": trial.precision, "device": str(trial.device), "device_name": device_name(trial.device)})
    trial.durable_checkpoints = durable_checkpoints
    trial.on_improvement = on_improvement
    status = "completed"
    while trial.state.epoch < config.train.epochs:
        metrics = run_epoch(trial, progress)
        if report is not None and report(metrics):
            status = "stopped"
            break
        if _patience_exhausted(trial):
            status = "early_stopped"
            break
    return finish(trial, status)


def run_epoch(trial: Trial, progress: bool = False) -> EpochMetrics:
    start = time.perf_counter()
    train_loss, train_accuracy, images, compute = train_one_epoch(trial, progress)
    if not torch.isfinite(torch.tensor(train_loss)):
        raise TrainingDiverged(f"training diverged in epoch {trial.state.epoch + 1}: the loss is "
                               f"{train_loss}; lower train.lr or add a schedule")
    val_loss, val_accuracy, _ = evaluate(trial, trial.data["val_x"], trial.data["val_y"])
    step_scheduler_after_epoch(trial.scheduler, val_loss)
    state = trial.state
    state.epoch += 1
    state.train_images += images
    state.compute_seconds += compute
    seconds = time.perf_counter() - start
    state.train_seconds += seconds
    metrics = EpochMetrics(epoch=state.epoch, train_loss=train_loss, train_accuracy=train_accuracy,
                           val_loss=val_loss, val_accuracy=val_accuracy,
                           lr=trial.optimizer.param_groups[0]["lr"], seconds=seconds,
                           images_per_second=images / compute, elapsed_seconds=state.train_seconds,
                           params=count_parameters(trial.model))
    state.history.append(metrics)
    if val_accuracy > state.best_val_accuracy:
        state.best_val_accuracy, state.best_epoch = val_accuracy, state.epoch
        evaluated = evaluated_model(trial.model, trial.average)
        trial.best_weights = {k: v.detach().clone() for k, v in evaluated.state_dict().items()}
        trial.best_test = None
        if trial.on_improvement is not None:
            trial.best_test = evaluate_test(trial)
            trial.on_improvement(trial.best_test)
        if trial.checkpoint_dir is not None:
            ckpt.save_best(trial.checkpoint_dir, trial.best_weights, trial.durable_checkpoints)
    if trial.checkpoint_dir is not None:
        ckpt.save_last(trial.checkpoint_dir, trial, trial.durable_checkpoints)
    return metrics


def train_one_epoch(trial: Trial, progress: bool = False) -> tuple[float, float, int, float]:
    """One pass over the (oversampled, shuffled) training split: mean loss, accuracy, images, seconds."""
    config, model, data = trial.config.train, trial.model, trial.data
    model.train()
    order = epoch_order(trial.dataset.train_y, trial.weights, trial.order_generator,
                        blocks=trial.read_in_blocks).to(data["train_x"].device)
    slices = batch_slices(len(order), config.batch_size)
    loss_sum = torch.zeros((), device=trial.device)
    correct = torch.zeros((), device=trial.device, dtype=torch.int64)
    seen = 0
    start = time.perf_counter()
    batches = gathered(data["train_x"], data["train_y"], order, slices, trial.device)
    for raw, labels in _progress(batches, progress, f"epoch {trial.state.epoch + 1}/{config.epochs}", len(slices)):
        images = trial.pipeline(raw, labels, trial.augmenter, trial.augment_generator)
        logits, loss = _train_step(trial, images, labels)
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += len(labels)
    loss_value, correct_value = loss_sum.item(), correct.item()  # one device sync per epoch
    seconds = time.perf_counter() - start
    return loss_value / seen, correct_value / seen, seen, seconds


def _train_step(trial: Trial, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with autocast(trial.device, trial.precision):
        logits = trial.forward(images)
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=trial.config.train.label_smoothing)
    trial.optimizer.zero_grad(set_to_none=True)
    trial.scaler.scale(loss).backward()
    trial.scaler.step(trial.optimizer)
    trial.scaler.update()
    if trial.average is not None:
        trial.average.update_parameters(trial.model)
    step_scheduler_after_batch(trial.scheduler)
    return logits, loss


def _patience_exhausted(trial: Trial) -> bool:
    patience = trial.config.train.early_stopping
    return patience is not None and trial.state.epoch - trial.state.best_epoch >= patience


def finish(trial: Trial, status: str) -> FitResult:
    """Restore the best-validation weights, test them, and describe the trial."""
    if trial.best_weights is not None:        # into what is evaluated: the average, when weights are averaged
        evaluated_model(trial.model, trial.average).load_state_dict(trial.best_weights)
    test = trial.best_test or evaluate_test(trial)  # not twice for the same weights
    state = trial.state
    return FitResult(
        status=status, test_accuracy=test.accuracy, test_loss=test.loss,
        val_accuracy=state.best_val_accuracy, best_epoch=state.best_epoch,
        params=count_parameters(trial.model), train_seconds=state.train_seconds,
        train_images_per_second=state.train_images / max(state.compute_seconds, 1e-9),
        epochs_completed=state.epoch, classes=trial.dataset.classes, per_class=test.per_class,
        confusion=test.confusion, precision=trial.precision, device=str(trial.device),
        history=list(state.history), misclassified=test.misclassified)


def count_trial_parameters(config: RunConfig) -> int:
    """Trainable parameters of the run's model, from a shapes-only build (build_for_shapes), with no
    decoding. Raises like build_model when the model cannot take the data."""
    from raycnn.data import describe_dataset

    info = describe_dataset(config.data)
    model = build_for_shapes(config.model.arch, in_channels=info.channels, num_classes=info.num_classes,
                             input_size=info.size, kernel_size=config.model.kernel_size, **config.model.options())
    return count_parameters(model)


def _progress(items, enabled: bool, description: str, total: int):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="batch", leave=False, dynamic_ncols=True, total=total)
