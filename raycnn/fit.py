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

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from raycnn import checkpoint as ckpt
from raycnn.augment import Augmenter, build_augmenter
from raycnn.averaging import build_average, evaluated_model
from raycnn.batches import BatchPipeline, batch_slices, class_weights, epoch_length, epoch_order, exceeds_memory
from raycnn.config import RunConfig
from raycnn.data import Dataset, cache_folder, load_dataset
from raycnn.errors import RaycnnError
from raycnn.metrics import confusion_matrix, per_class_metrics
from raycnn.models import build_model, count_parameters
from raycnn.optim import build_optimizer, build_scheduler, step_scheduler_after_batch, step_scheduler_after_epoch
from raycnn.precision import autocast, choose_precision, resolve_device
from raycnn.training_state import EpochMetrics, TrainingState


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


@dataclass(frozen=True)
class TestEvaluation:
    """The test set under one set of weights."""

    accuracy: float
    loss: float
    per_class: list[dict]
    confusion: list[list[int]]
    misclassified: list[dict] = field(default_factory=list)  # first few: {index, true, pred} in the test split


MISCLASSIFIED_SHOWN = 36


class TrainingDiverged(RaycnnError):
    """The training loss became NaN or infinite."""


@dataclass
class Trial:
    """Everything one fit() works with."""

    config: RunConfig
    device: torch.device
    dataset: Dataset
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: torch.amp.GradScaler
    pipeline: BatchPipeline
    augmenter: Augmenter
    weights: torch.Tensor | None
    order_generator: torch.Generator
    augment_generator: torch.Generator
    precision: str
    data: dict[str, torch.Tensor]
    state: TrainingState
    best_weights: dict | None = None
    average: torch.optim.swa_utils.AveragedModel | None = None   # train.ema_decay: what is evaluated
    checkpoint_dir: Path | None = None
    on_improvement: Callable[[TestEvaluation], None] | None = None
    best_test: TestEvaluation | None = None   # the best weights' test results, once computed
    steps_per_epoch: int = 0       # training steps (batches) per epoch: where a resumed schedule continues
    read_in_blocks: bool = False   # the training split is larger than the memory it could be paged into
    durable_checkpoints: bool = True   # fsync'd; off for a scratch folder copied durably elsewhere


def fit(config: RunConfig, report: Report | None = None, out_dir: str | Path | None = None,
        resume: bool = False, progress: bool = False,
        on_improvement: Callable[[TestEvaluation], None] | None = None,
        durable_checkpoints: bool = True) -> FitResult:
    """Train and test one configuration. With `out_dir`, checkpoint every epoch into
    OUT/checkpoints; with `resume`, continue from the checkpoint there if one exists.
    `on_improvement(TestEvaluation)` is called whenever the validation accuracy improves, with the
    test results of the new best weights (before that epoch's checkpoint is written): a run that
    is killed later (a sweep scheduler stopping it) has its final test results already.
    `durable_checkpoints=False` skips the fsyncs, for a scratch folder its caller copies durably."""
    trial = prepare_trial(config, out_dir, resume)
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


def prepare_trial(config: RunConfig, out_dir: str | Path | None, resume: bool) -> Trial:
    device = resolve_device(config.train.device)
    dataset = load_dataset(config.data)
    torch.manual_seed(config.train.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = build_model(config.model.arch, in_channels=dataset.channels, num_classes=dataset.num_classes,
                        input_size=dataset.image_size, kernel_size=config.model.kernel_size,
                        **config.model.options())
    memory = torch.channels_last if config.train.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory)
    weights = class_weights(dataset, config.data.oversample)
    steps = len(batch_slices(epoch_length(dataset.train_y, weights), config.train.batch_size))
    optimizer = build_optimizer(config.train, model)
    checkpoint_dir = Path(out_dir) / "checkpoints" if out_dir is not None else None
    checkpoint = _load_checkpoint(checkpoint_dir, device) if resume and ckpt.exists(checkpoint_dir) else None
    precision = checkpoint["precision"] if checkpoint else choose_precision(
        config.train.precision, device, model, dataset.input_shape, config.train.channels_last,
        cache_folder(config.data))
    trial = Trial(
        config=config, device=device, dataset=dataset, model=model, optimizer=optimizer,
        scheduler=build_scheduler(config.train, optimizer, steps),
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        pipeline=BatchPipeline(dataset, device, config.train.channels_last),
        augmenter=build_augmenter(config.augment, dataset), weights=weights,
        order_generator=torch.Generator().manual_seed(config.train.seed),
        augment_generator=torch.Generator(device=device).manual_seed(config.train.seed + 1),
        precision=precision, data=_to_device(dataset, device), state=TrainingState(),
        checkpoint_dir=checkpoint_dir, steps_per_epoch=steps)
    trial.average = build_average(model, config.train.ema_decay)
    trial.read_in_blocks = trial.data["train_x"].device.type == "cpu" and exceeds_memory(trial.data["train_x"])
    if checkpoint:
        ckpt.restore(trial, checkpoint)
    return trial


def _load_checkpoint(checkpoint_dir: Path, device: torch.device) -> dict | None:
    """The checkpoint to continue from; None (start over, with one warning line) when it is unreadable."""
    try:
        return ckpt.load(checkpoint_dir, device)
    except ckpt.UnreadableCheckpoint as err:
        print(f"raycnn: warning: {err}; starting this run over from epoch 1", file=sys.stderr, flush=True)
        return None


GPU_DATA_SHARE = 0.25  # a dataset up to this share of the GPU's free memory is copied onto it whole


def _to_device(dataset: Dataset, device: torch.device) -> dict[str, torch.Tensor]:
    """The splits where batches are taken from: on a GPU when they fit in a share of its free memory
    (one copy per trial, no transfer per batch); else where they are, the machine's mapped cache (the
    CPU, or a GPU too small for them: each batch is gathered there and copied over)."""
    names = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
    tensors = {name: getattr(dataset, name) for name in names}
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if sum(t.numel() * t.element_size() for t in tensors.values()) > GPU_DATA_SHARE * free:
            return tensors
    return {name: tensor.to(device) for name, tensor in tensors.items()}


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
    for batch in _progress(slices, progress, f"epoch {trial.state.epoch + 1}/{config.epochs}"):
        index = order[batch]
        labels = data["train_y"][index].to(trial.device, non_blocking=True)
        images = trial.pipeline(data["train_x"][index], labels, trial.augmenter, trial.augment_generator)
        logits, loss = _train_step(trial, images, labels)
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += len(labels)
    loss_value, correct_value = loss_sum.item(), correct.item()  # one device sync per epoch
    seconds = time.perf_counter() - start
    return loss_value / seen, correct_value / seen, seen, seconds


def _train_step(trial: Trial, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with autocast(trial.device, trial.precision):
        logits = trial.model(images)
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=trial.config.train.label_smoothing)
    trial.optimizer.zero_grad(set_to_none=True)
    trial.scaler.scale(loss).backward()
    trial.scaler.step(trial.optimizer)
    trial.scaler.update()
    if trial.average is not None:
        trial.average.update_parameters(trial.model)
    step_scheduler_after_batch(trial.scheduler)
    return logits, loss


@torch.no_grad()
def evaluate(trial: Trial, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predictions of the current weights (no augmentation, no dropout)."""
    model = evaluated_model(trial.model, trial.average)
    model.eval()
    labels = labels.to(trial.device)     # the images stay where they are: batches are moved over
    loss_sum = torch.zeros((), device=trial.device, dtype=torch.float64)
    predictions = []
    mirror = trial.config.train.test_time_flip and trial.dataset.flip_keeps_label
    for batch, batch_labels in trial.pipeline.batches(images, labels, 2 * trial.config.train.batch_size):
        with autocast(trial.device, trial.precision):
            logits = model(batch)
            if mirror:                   # test-time flip: the mean of the image's and its mirror's logits
                logits = (logits + model(batch.flip(3))) / 2
        loss_sum += F.cross_entropy(logits.float(), batch_labels, reduction="sum").double()
        predictions.append(logits.argmax(1))
    predicted = torch.cat(predictions)
    accuracy = (predicted == labels).double().mean().item()
    return loss_sum.item() / len(labels), accuracy, predicted


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


def evaluate_test(trial: Trial) -> TestEvaluation:
    """Test accuracy, loss, per-class scores and confusion matrix of the current weights."""
    loss, accuracy, predicted = evaluate(trial, trial.data["test_x"], trial.data["test_y"])
    labels = trial.data["test_y"].to(trial.device)
    confusion = confusion_matrix(predicted, labels, trial.dataset.num_classes)
    wrong = (predicted != labels).nonzero().flatten()[:MISCLASSIFIED_SHOWN].tolist()
    return TestEvaluation(accuracy=accuracy, loss=loss, per_class=per_class_metrics(confusion, trial.dataset.classes),
                          confusion=confusion.tolist(),
                          misclassified=[{"index": i, "true": int(labels[i]), "pred": int(predicted[i])} for i in wrong])


def count_trial_parameters(config: RunConfig) -> int:
    """Trainable parameters of the run's model, from a shape-only (meta device) build: no memory,
    no decoding. Raises like build_model when the model cannot take the data."""
    from raycnn.data import describe_dataset

    info = describe_dataset(config.data)
    with torch.device("meta"):
        model = build_model(config.model.arch, in_channels=info.channels, num_classes=info.num_classes,
                            input_size=info.size, kernel_size=config.model.kernel_size, **config.model.options())
    return count_parameters(model)


def _progress(items: list, enabled: bool, description: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="batch", leave=False, dynamic_ncols=True)
