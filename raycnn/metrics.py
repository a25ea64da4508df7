"""Classification metrics from predictions: confusion matrix (rows = true class) and per-class scores."""

from __future__ import annotations

import torch


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 [num_classes, num_classes]; entry [t, p] counts images of class t predicted as p."""
    flat = target.to(torch.int64) * num_classes + predicted.to(torch.int64)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes).cpu()


def per_class_metrics(confusion: torch.Tensor, classes: tuple[str, ...]) -> list[dict]:
    """Precision, recall, F1 and support per class; 0.0 where a ratio has a zero denominator
    (as scikit-learn's zero_division=0)."""
    confusion = confusion.to(torch.float64)
    hits = confusion.diag()
    predicted = confusion.sum(0)
    support = confusion.sum(1)
    precision = torch.where(predicted > 0, hits / predicted.clamp_min(1), torch.zeros_like(hits))
    recall = torch.where(support > 0, hits / support.clamp_min(1), torch.zeros_like(hits))
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp_min(1e-12), torch.zeros_like(hits))
    return [{"class": name, "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(classes)]
