"""A trial's working set (`Trial`) and how it is prepared: the dataset's splits where batches are taken
from, the model in its memory layout, optimizer, schedule, precision, augmentation, random streams, and a
checkpoint to continue from."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from raycnn import checkpoint as ckpt
from raycnn.augment import Augmenter, build_augmenter
from raycnn.averaging import build_average
from raycnn.batches import (BatchPipeline, available_memory, batch_slices, class_weights, epoch_length,
                            exceeds_memory)
from raycnn.config import RunConfig
from raycnn.data import Dataset, cache_folder, load_dataset
from raycnn.evaluation import TestEvaluation
from raycnn.gpu import apply_memory_cap, data_on_device, use_deterministic
from raycnn.models import build_for_shapes, build_model
from raycnn.optim import build_optimizer, build_scheduler
from raycnn.precision import choose_precision, resolve_device
from raycnn.training_state import TrainingState


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
    forward: Callable | None = None    # the training forward pass: the model, or torch.compile of it


def prepare_trial(config: RunConfig, out_dir: str | Path | None, resume: bool, gpu_share: float = 1.0) -> Trial:
    """`gpu_share`: the fraction of its GPU the trial was given (a sweep's resources.gpus); it caps the
    trial's GPU memory and decides whether the dataset is copied onto the GPU (raycnn.gpu)."""
    device = resolve_device(config.train.device)
    if device.type == "cuda":
        apply_memory_cap(device, gpu_share)
    use_deterministic(config.train.deterministic)
    dataset = load_dataset(config.data)
    torch.manual_seed(config.train.seed)
    model = _build(config, dataset)
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
        precision=precision, data=_to_device(dataset, device, gpu_share), state=TrainingState(),
        checkpoint_dir=checkpoint_dir, steps_per_epoch=steps)
    trial.average = build_average(model, config.train.ema_decay)
    trial.forward = torch.compile(model) if config.train.compile else model   # shares the model's weights
    trial.read_in_blocks = trial.data["train_x"].device.type == "cpu" and exceeds_memory(trial.data["train_x"])
    if checkpoint:
        ckpt.restore(trial, checkpoint)
    return trial


def settle_precision(config: RunConfig) -> str | None:
    """The precision CPU trials of `config` (`precision: auto`) will run in on this machine, decided now and
    kept in the dataset's cache folder: a sweep calls it once per node and model before any trial starts,
    so that trials running side by side read one verdict instead of timing fp32 against bf16 while they
    slow each other down. None where nothing is timed (a precision given, a GPU trial)."""
    if config.train.precision != "auto" or config.train.device.startswith("cuda"):
        return None
    device = resolve_device(config.train.device)
    if device.type != "cpu":
        return None
    dataset = load_dataset(config.data)
    model = _build(config, dataset, build_for_shapes)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    if 4 * size > available_memory():      # weights, the timed copy, gradients: the trial will run out itself
        return None
    with torch.random.fork_rng(devices=[]):                # now its weights, the RNG left as it was
        model = _build(config, dataset)
    return choose_precision("auto", device, model, dataset.input_shape, config.train.channels_last,
                            cache_folder(config.data))


def _build(config: RunConfig, dataset: Dataset, build=build_model) -> nn.Module:
    return build(config.model.arch, in_channels=dataset.channels, num_classes=dataset.num_classes,
                 input_size=dataset.image_size, kernel_size=config.model.kernel_size, **config.model.options())


def _load_checkpoint(checkpoint_dir: Path, device: torch.device) -> dict | None:
    """The checkpoint to continue from; None (start over, with one warning line) when it is unreadable."""
    try:
        return ckpt.load(checkpoint_dir, device)
    except ckpt.UnreadableCheckpoint as err:
        print(f"raycnn: warning: {err}; starting this run over from epoch 1", file=sys.stderr, flush=True)
        return None


def _to_device(dataset: Dataset, device: torch.device, gpu_share: float) -> dict[str, torch.Tensor]:
    """The splits where batches are taken from: on the GPU when they fit in a quarter of the trial's share
    of its memory (one copy per trial, no transfer per batch; raycnn.gpu.data_on_device); else where they
    are, the machine's mapped cache (batches are gathered there, pinned and copied over ahead of use)."""
    names = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
    tensors = {name: getattr(dataset, name) for name in names}
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        if not data_on_device(sum(t.numel() * t.element_size() for t in tensors.values()), gpu_share, total):
            return tensors
    return {name: tensor.to(device) for name, tensor in tensors.items()}
