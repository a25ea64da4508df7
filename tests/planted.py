"""Result tables with findings planted on purpose, written in the layout raycnn.sweep writes.

Five classes; errors only go where the plan says (nothing is ever predicted as airplane):
airplane->bird, bird->frog, cat->dog, dog->cat, frog->bird. Per-class recall:
- cat is weak (0.55; its errors all go to dog), the others 0.90;
- `standard` augmentation raises cat recall by 0.20 and lowers frog recall by 0.08 (airplane unchanged);
- kernel 5 raises every recall by 0.05 with custom_cnn and lowers it by 0.05 with alexnet_small;
- each seed moves each recall by a little noise (sd 0.005);
- plan={"guessing": ARCH}: that architecture never learned (every recall 0.22, chance 0.20).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CLASSES = ("airplane", "bird", "cat", "dog", "frog")
ERRORS_TO = {"airplane": "bird", "bird": "frog", "cat": "dog", "dog": "cat", "frog": "bird"}
SUPPORT = 2000


def recalls(arch: str, augment: str, kernel: int, seed: int, plan: dict | None = None) -> dict[str, float]:
    plan = plan or {}
    base = {c: 0.90 for c in CLASSES} | {"cat": 0.55}
    if augment == "standard":
        base["cat"] += plan.get("aug_cat", 0.20)
        base["frog"] -= plan.get("aug_frog", 0.08)
    if kernel == 5:
        shift = plan.get("kernel_custom", 0.05) if arch == "custom_cnn" else -plan.get("kernel_alexnet", 0.05)
        base = {c: r + shift for c, r in base.items()}
    noise = np.random.default_rng(zlib.crc32(f"{arch}-{augment}-{kernel}-{seed}".encode())).normal(0, 0.005, len(CLASSES))
    if plan.get("guessing") == arch:          # an architecture that never learned: recall near 1/5 everywhere
        base = {c: 0.22 for c in CLASSES}
    return {c: float(np.clip(r + n, 0, 1)) for (c, r), n in zip(base.items(), noise)}


def confusion(recall: dict[str, float]) -> np.ndarray:
    matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    for t, name in enumerate(CLASSES):
        right = int(round(SUPPORT * recall[name]))
        matrix[t, t] = right
        matrix[t, CLASSES.index(ERRORS_TO[name])] += SUPPORT - right
    return matrix


def write_run(folder: Path, archs=("custom_cnn", "alexnet_small"), augments=("none", "standard"),
              kernels=(3, 5), seeds=(0, 1, 2), status=None, plan: dict | None = None) -> Path:
    trials, classes, cells, epochs = [], [], [], []
    number = 0
    for arch in archs:
        for augment in augments:
            for kernel in kernels:
                for seed in seeds:
                    number += 1
                    trial_id = f"t{number:04d}"
                    matrix = confusion(recalls(arch, augment, kernel, seed, plan))
                    accuracy = float(np.trace(matrix) / matrix.sum())
                    trials.append(trial_row(trial_id, arch, augment, kernel, seed, accuracy, status))
                    classes += class_rows(trial_id, matrix)
                    cells += [{"trial_id": trial_id, "true_class": t, "pred_class": p, "count": int(matrix[t, p])}
                              for t in range(len(CLASSES)) for p in range(len(CLASSES))]
                    epochs += [{"trial_id": trial_id, "epoch": e, "train_loss": 1.0 / e, "train_accuracy": accuracy,
                                "val_loss": 1.0 / e, "val_accuracy": accuracy * e / 10, "lr": 1e-3, "seconds": 2.0}
                               for e in range(1, 11)]
    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    for name, rows in (("trials", trials), ("classes", classes), ("confusion", cells), ("epochs", epochs)):
        pq.write_table(pa.Table.from_pylist(rows), results / f"{name}.parquet")
    return folder


def trial_row(trial_id, arch, augment, kernel, seed, accuracy, status) -> dict:
    return {"trial_id": trial_id, "trial_name": f"{arch}-toy-{augment}-k{kernel}-s{seed}",
            "status": status or "completed", "arch": arch, "dataset": "toy", "augment": augment,
            "kernel_size": kernel, "seed": seed, "epochs_completed": 10, "best_val_accuracy": accuracy,
            "test_accuracy": accuracy, "params": 1_000_000 if arch == "custom_cnn" else 600_000,
            "train_seconds": 20.0, "images_per_second": 500.0, "error": None, "stop_reason": None,
            "augment.preset": augment, "model.arch": arch, "model.kernel_size": kernel, "train.seed": seed,
            "data.dataset": "toy", "train.epochs": 10, "data.oversample": "{}", "augment.classes": "[]",
            "augment.class_preset": None}


def class_rows(trial_id: str, matrix: np.ndarray) -> list[dict]:
    rows = []
    for c, name in enumerate(CLASSES):
        tp, true, pred = matrix[c, c], matrix[c].sum(), matrix[:, c].sum()
        precision = tp / pred if pred else 0.0
        recall = tp / true
        rows.append({"trial_id": trial_id, "class_index": c, "class_name": name, "precision": float(precision),
                     "recall": float(recall), "f1": float(2 * tp / (true + pred)), "support": int(true)})
    return rows
