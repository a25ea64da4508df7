"""Evaluating a trial's current weights (the averaged ones, with `train.ema_decay`): loss, accuracy and
predictions of a split, with test-time flips where the dataset allows them; the test set's per-class
scores, confusion matrix and first misclassified images (`TestEvaluation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from raycnn.averaging import evaluated_model
from raycnn.metrics import confusion_matrix, per_class_metrics
from raycnn.precision import autocast

if TYPE_CHECKING:
    from raycnn.trial import Trial


@dataclass(frozen=True)
class TestEvaluation:
    """The test set under one set of weights."""

    accuracy: float
    loss: float
    per_class: list[dict]
    confusion: list[list[int]]
    misclassified: list[dict] = field(default_factory=list)  # first few: {index, true, pred} in the test split


MISCLASSIFIED_SHOWN = 36


MISCLASSIFIED_SHOWN = 36


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


def evaluate_test(trial: Trial) -> TestEvaluation:
    """Test accuracy, loss, per-class scores and confusion matrix of the current weights."""
    loss, accuracy, predicted = evaluate(trial, trial.data["test_x"], trial.data["test_y"])
    labels = trial.data["test_y"].to(trial.device)
    confusion = confusion_matrix(predicted, labels, trial.dataset.num_classes)
    wrong = (predicted != labels).nonzero().flatten()[:MISCLASSIFIED_SHOWN].tolist()
    return TestEvaluation(accuracy=accuracy, loss=loss, per_class=per_class_metrics(confusion, trial.dataset.classes),
                          confusion=confusion.tolist(),
                          misclassified=[{"index": i, "true": int(labels[i]), "pred": int(predicted[i])} for i in wrong])
