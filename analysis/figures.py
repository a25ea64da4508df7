"""The report's figures, as PNG files: confusion matrices, a per-class F1 heatmap, effects with
their intervals, learning curves with ASHA's stopping points."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.load import Results
from analysis.stats import metric_vector


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_all(results: Results, findings: dict, folder: Path) -> list[tuple[str, Path]]:
    """[(caption, path)] of every figure written into FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row in findings["leaderboard"]:
        path = folder / f"confusion-{row['dataset']}-{row['arch']}.png"
        confusion(sum(results.confusion[k] for k in row["trials"]), results.classes[row["dataset"]],
                  f"{row['dataset']}, {row['config']} ({len(row['trials'])} trial(s))", path)
        written.append((f"Test confusion matrix of the best {row['arch']} on {row['dataset']}", path))
    for dataset in sorted(results.trials["dataset"].unique()):
        path = folder / f"f1-heatmap-{dataset}.png"
        if f1_heatmap(results, str(dataset), path):
            written.append((f"Per-class F1 by configuration on {dataset} (mean over seeds)", path))
        path = folder / f"effects-{dataset}.png"
        if effects(findings, str(dataset), path):
            written.append((f"Effects on test accuracy on {dataset}, with 95% intervals", path))
        path = folder / f"learning-curves-{dataset}.png"
        if learning_curves(results, str(dataset), path):
            written.append((f"Validation accuracy of the top trials on {dataset} (x: stopped by ASHA)", path))
    return written


def confusion(counts: np.ndarray, classes: tuple[str, ...], title: str, path: Path) -> None:
    plt = _pyplot()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=90)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), labels=classes, rotation=90 if len(classes) > 10 else 45, ha="right")
    ax.set_yticks(range(len(classes)), labels=classes)
    if len(classes) <= 20:
        for t in range(len(classes)):
            for p in range(len(classes)):
                ax.text(p, t, str(int(counts[t, p])), ha="center", va="center", fontsize=7,
                        color="white" if shares[t, p] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (rows sum to 1)")
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def f1_heatmap(results: Results, dataset: str, path: Path) -> bool:
    trials = results.trials[results.trials["dataset"] == dataset]
    classes = results.classes[dataset]
    columns = {}
    for name, group in trials.groupby(trials["trial_name"].str.replace(r"-s\d+$", "", regex=True), sort=True):
        f1 = np.mean([metric_vector(results.confusion[k])[1:1 + len(classes)] for k in group.index], axis=0)
        budget = group["budget"].iloc[0]
        columns[name + ("" if budget == "full" else f" ({budget})")] = f1
    if len(columns) < 1 or len(classes) > 100:
        return False
    plt = _pyplot()
    grid = np.stack(list(columns.values()), axis=1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(columns) + 3), max(3.0, 0.22 * len(classes) + 2)), dpi=90)
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(classes)), labels=classes, fontsize=7)
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=60, ha="right", fontsize=7)
    fig.colorbar(image, ax=ax, label="F1")
    ax.set_title(f"per-class F1 on {dataset}", fontsize=9)
    _save(fig, path)
    return True


def effects(findings: dict, dataset: str, path: Path) -> bool:
    rows = [e for group in ("arch_effects", "augmentation_effects", "kernel_effects", "other_effects")
            for e in findings[group] if e["dataset"] == dataset and e["class"] is None]
    if not rows:
        return False
    plt = _pyplot()
    labels = [f"{e['factor']}={e['factor_value']} vs {e['baseline_value']}" + (f" [{e['arch']}]" if e["arch"] else "")
              for e in rows]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.5), dpi=90)
    y = np.arange(len(rows))
    deltas = np.array([e["delta"] for e in rows])
    errors = np.array([[e["delta"] - e["ci_low"] for e in rows], [e["ci_high"] - e["delta"] for e in rows]])
    ax.errorbar(deltas, y, xerr=np.clip(errors, 0, None), fmt="o", color="tab:blue", capsize=3)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, labels=labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("change in test accuracy (95% interval)")
    _save(fig, path)
    return True


def learning_curves(results: Results, dataset: str, path: Path, top: int = 6) -> bool:
    trials = results.trials[results.trials["dataset"] == dataset]
    epochs = results.epochs[results.epochs["key"].isin(trials.index)]
    if epochs.empty:
        return False
    best = trials.sort_values("best_val_accuracy", ascending=False, na_position="last").head(top)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=90)
    for key, row in best.iterrows():
        curve = epochs[epochs["key"] == key].sort_values("epoch")
        if curve.empty:
            continue
        line, = ax.plot(curve["epoch"], curve["val_accuracy"], label=row["trial_name"], linewidth=1.2)
        if row["budget"] != "full":
            ax.plot(curve["epoch"].iloc[-1], curve["val_accuracy"].iloc[-1], "x", color=line.get_color(),
                    markersize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
