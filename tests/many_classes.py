"""Result tables of many-class sweeps drawn at random, in the layout raycnn.sweep writes.

Every trial's test set has `support` images per class. A class's recall is `recall` plus seed-to-seed
noise (N(0, seed_sd) per trial and class); its correct count is drawn binomially and its errors go
to the other classes at random (evenly, multinomial), so no pair is confused more than chance. With
`weak=c`, class c's recall is lowered so that its F1 is `gap` below the others' (its precision stays
that of the others). With `confused=(a, b)`, half of class a's errors go to class b. Nothing depends
on the architecture or the augmentation: any effect or weak class the report names beyond the planted
ones is a false finding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def names(classes: int) -> tuple[str, ...]:
    return tuple(f"c{i:03d}" for i in range(classes))


def weak_recall(recall: float, gap: float) -> float:
    """The recall that gives F1 `gap` below the others', at the others' precision (= their recall)."""
    target = recall - gap
    return target * recall / (2 * recall - target)


def confusion(rng: np.random.Generator, recalls: np.ndarray, support: int, confused=None) -> np.ndarray:
    size = len(recalls)
    right = rng.binomial(support, np.clip(recalls, 0, 1))
    matrix = np.zeros((size, size), dtype=np.int64)
    for t in range(size):
        shares = np.full(size, 1.0 / (size - 1))
        shares[t] = 0.0
        if confused is not None and t == confused[0]:
            shares = shares * 0.5
            shares[confused[1]] += 0.5
        matrix[t] = rng.multinomial(support - right[t], shares)
        matrix[t, t] = right[t]
    return matrix


def write_run(folder: Path, classes: int = 10, support: int = 1000, seeds=(0,), weak: int | None = None,
              gap: float = 0.10, confused=None, recall: float = 0.80, seed_sd: float = 0.01,
              archs=("custom_cnn", "alexnet_small"), augments=("none", "standard"), kernels=(3,),
              replicate: int = 0, dataset: str = "many") -> Path:
    rng = np.random.default_rng([replicate, classes, support, len(seeds)])
    base = np.full(classes, recall)
    if weak is not None:
        base[weak] = weak_recall(recall, gap)
    trials, class_rows, cells = [], [], []
    combos = [(a, g, k, s) for a in archs for g in augments for k in kernels for s in seeds]
    for number, (arch, augment, kernel, seed) in enumerate(combos, start=1):
        trial_id = f"t{number:04d}"
        matrix = confusion(rng, base + rng.normal(0, seed_sd, classes), support, confused)
        trials.append(_trial(trial_id, dataset, arch, augment, kernel, seed, float(np.trace(matrix) / matrix.sum())))
        class_rows += _classes(trial_id, matrix, names(classes))
        true, pred = np.nonzero(matrix)
        cells += [{"trial_id": trial_id, "true_class": int(t), "pred_class": int(p), "count": int(matrix[t, p])}
                  for t, p in zip(true, pred)]
    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    for name, rows in (("trials", trials), ("classes", class_rows), ("confusion", cells)):
        pq.write_table(pa.Table.from_pylist(rows), results / f"{name}.parquet")
    return folder


def _trial(trial_id, dataset, arch, augment, kernel, seed, accuracy) -> dict:
    return {"trial_id": trial_id, "trial_name": f"{arch}-{dataset}-{augment}-k{kernel}-s{seed}",
            "status": "completed", "arch": arch, "dataset": dataset, "augment": augment, "kernel_size": kernel,
            "seed": seed, "epochs_completed": 10, "best_val_accuracy": accuracy, "test_accuracy": accuracy,
            "params": 1_000_000 if arch == "custom_cnn" else 600_000, "train_seconds": 20.0,
            "images_per_second": 500.0, "error": None, "stop_reason": None, "train.epochs": 10}


def _classes(trial_id: str, matrix: np.ndarray, labels: tuple[str, ...]) -> list[dict]:
    tp, true, pred = np.diagonal(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    return [{"trial_id": trial_id, "class_index": c, "class_name": labels[c],
             "precision": float(tp[c] / pred[c]) if pred[c] else 0.0, "recall": float(tp[c] / true[c]),
             "f1": float(2 * tp[c] / (true[c] + pred[c])), "support": int(true[c])} for c in range(len(labels))]
