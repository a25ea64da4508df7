from __future__ import annotations

import torch
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from raycnn.metrics import confusion_matrix, per_class_metrics


def test_metrics_match_scikit_learn():
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (500,), generator=generator)
    predicted = torch.where(torch.rand(500, generator=generator) < 0.6, target,
                            torch.randint(0, 5, (500,), generator=generator))
    predicted[predicted == 4] = 3          # class 4 is never predicted: precision 0 by convention
    confusion = confusion_matrix(predicted, target, 5)
    assert confusion.tolist() == sk_confusion(target, predicted, labels=range(5)).tolist()
    rows = per_class_metrics(confusion, tuple("abcde"))
    precision, recall, f1, support = precision_recall_fscore_support(target, predicted, labels=range(5),
                                                                     zero_division=0)
    for i, row in enumerate(rows):
        assert row["class"] == "abcde"[i]
        assert abs(row["precision"] - precision[i]) < 1e-12
        assert abs(row["recall"] - recall[i]) < 1e-12
        assert abs(row["f1"] - f1[i]) < 1e-12
        assert row["support"] == support[i]
