"""The report's figures, as PNG files: confusion matrices, a per-class F1 heatmap, effects with
their intervals, learning curves with ASHA's stopping points."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from analysis.load import Results
from analysis.stats import metric_vector


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_first(findings: dict, folder: Path) -> list[tuple[str, Path]]:
    """The report's first-screen figures: the whole study, then accuracy against cost."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset in sorted({c["dataset"] for c in findings["cells"]}):
        path = folder / _file("study", dataset)
        if study(findings, dataset, path):
            short = any(c["budget"] != "full" for c in findings["cells"] if c["dataset"] == dataset)
            written.append((f"Every configuration on {dataset}: mean test accuracy over seeds with its 95% interval"
                            + (" (one stopped by ASHA is marked with the epoch it reached)" if short else ""), path))
        path = folder / _file("pareto", dataset)
        if pareto(findings, dataset, path):
            written.append((f"Accuracy against cost on {dataset}: the Pareto front (line) and dominated "
                            f"configurations (grey)", path))
    return written


DOT_PLOT_CELLS = 16      # more configurations than this: a grid (heatmap) instead of a dot plot


def study(findings: dict, dataset: str, path: Path) -> bool:
    cells = sorted((c for c in findings["cells"] if c["dataset"] == dataset), key=lambda c: c["accuracy"])
    if not cells:
        return False
    if len(cells) > DOT_PLOT_CELLS:
        return study_grid(cells, dataset, path)
    plt = _pyplot()
    archs = sorted({c["arch"] for c in cells})
    colours = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(archs)}
    height = min(9.0, 0.22 * len(cells) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height), dpi=90)
    y = np.arange(len(cells))
    for arch in archs:
        index = [i for i, c in enumerate(cells) if c["arch"] == arch]
        for i in index:
            c = cells[i]
            full = c["budget"] == "full"
            ax.errorbar(c["accuracy"], i, xerr=[[c["accuracy"] - c["ci_low"]], [c["ci_high"] - c["accuracy"]]],
                        fmt="o", color=colours[arch], mfc=colours[arch] if full else "white", capsize=2,
                        markersize=4, label=arch if i == index[-1] else None)
    labels = [c["config"] + ("" if c["budget"] == "full" else f" ({c['budget']})") for c in cells]
    ax.set_yticks(y, labels=labels, fontsize=7 if len(cells) <= 30 else max(3, int(7 * 30 / len(cells)) + 1))
    ax.set_xlabel("test accuracy (mean over seeds, 95% interval)")
    ax.set_title(f"{dataset}: {len(cells)} configuration(s)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)
    return True


def study_grid(cells: list[dict], dataset: str, path: Path) -> bool:
    """Every configuration as one square: rows = architecture x the other factors, columns = the factor
    with the most values; colour and text = mean test accuracy, +- the 95% interval's half-width."""
    varying = [f for f in cells[0]["factors"] if len({c["factors"][f] for c in cells}) > 1]
    across = max(varying, key=lambda f: len({c["factors"][f] for c in cells}), default=None)
    down = [f for f in varying if f != across]

    def row_of(c):
        return " ".join([c["arch"]] + [f"{f}={c['factors'][f]}" for f in down]) + \
            ("" if c["budget"] == "full" else f" ({c['budget']})")

    rows = sorted({row_of(c) for c in cells})
    columns = sorted({c["factors"][across] for c in cells}, key=_natural) if across else ["all"]
    grid = np.full((len(rows), len(columns)), np.nan)
    text = {}
    for c in cells:
        i, j = rows.index(row_of(c)), columns.index(c["factors"][across] if across else "all")
        grid[i, j] = c["accuracy"]
        text[i, j] = f"{c['accuracy']:.3f}\n±{(c['ci_high'] - c['ci_low']) / 2:.3f}"
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(12.0, 1.0 * len(columns) + 3.5), min(7.0, 0.42 * len(rows) + 1.3)), dpi=90)
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    best = np.nanmax(grid)
    for (i, j), label in text.items():
        ax.text(j, i, label, ha="center", va="center", fontsize=7 if len(rows) <= 12 else 5,
                color="black" if grid[i, j] > np.nanmean(grid) else "white",
                fontweight="bold" if grid[i, j] == best else "normal")
    ax.set_xticks(range(len(columns)), labels=[f"{across}={v}" if across else v for v in columns], fontsize=7)
    ax.set_yticks(range(len(rows)), labels=rows, fontsize=7 if len(rows) <= 20 else 5)
    fig.colorbar(image, ax=ax, label="test accuracy")
    ax.set_title(f"{dataset}: {len(cells)} configurations (mean over seeds ± 95% interval half-width)", fontsize=9)
    _save(fig, path)
    return True


def _natural(text: str):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def pareto(findings: dict, dataset: str, path: Path) -> bool:
    rows = [r for r in findings["pareto"] if r["dataset"] == dataset]
    if len(rows) < 2:                        # one configuration at the full budget: no trade-off to draw
        return False
    costs = [(k, label, log) for k, label, log in (("params", "parameters", True),
                                                  ("train_seconds", "training seconds", True),
                                                  ("images_per_second", "images/s (training)", True))
             if any(r[k] for r in rows)]
    if not rows or not costs:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(costs), figsize=(3.6 * len(costs), 3.2), dpi=90, squeeze=False)
    for ax, (cost, label, log) in zip(axes[0], costs):
        have = [r for r in rows if r[cost]]
        front = sorted((r for r in have if r[f"front_{cost}"]), key=lambda r: r[cost])
        other = [r for r in have if not r[f"front_{cost}"]]
        ax.scatter([r[cost] for r in other], [r["accuracy"] for r in other], color="lightgrey", s=14,
                   label="dominated")
        ax.plot([r[cost] for r in front], [r["accuracy"] for r in front], "o-", color="tab:red", markersize=4,
                label="front")
        for r in front[:6]:
            ax.annotate(r["config"], (r[cost], r["accuracy"]), fontsize=5, xytext=(3, 3), textcoords="offset points")
        if log and min(r[cost] for r in have) > 0:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label + (" (more is better)" if cost == "images_per_second" else ""), fontsize=8)
        ax.set_ylabel("test accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    _save(fig, path)
    return True


def draw_all(results: Results, findings: dict, folder: Path) -> list[tuple[str, Path]]:
    """[(caption, path)] of every figure written into FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row in findings["leaderboard"]:
        path = folder / _file("confusion", row["dataset"], row["arch"])
        confusion(sum(results.confusion[k] for k in row["trials"]), results.classes[row["dataset"]],
                  f"{row['dataset']}, {row['config']} ({len(row['trials'])} trial(s))", path)
        written.append((f"Test confusion matrix of the best {row['arch']} on {row['dataset']}", path))
    for dataset in sorted(results.trials["dataset"].unique()):
        path = folder / _file("f1-heatmap", dataset)
        if f1_heatmap(results, str(dataset), path):
            written.append((f"Per-class F1 by configuration on {dataset} (mean over seeds)", path))
        path = folder / _file("effects", dataset)
        if effects(findings, str(dataset), path):
            written.append((f"Effects on test accuracy on {dataset}, with 95% intervals", path))
        path = folder / _file("tuning", dataset)
        if tuning_curves(findings, str(dataset), path):
            written.append((f"Tuning on {dataset}: best validation accuracy so far against tuning trials, per cell", path))
        path = folder / _file("learning-curves", dataset)
        if learning_curves(results, str(dataset), path):
            written.append((f"Validation accuracy of the top trials on {dataset} (x: stopped by ASHA)", path))
    return written


def confusion(counts: np.ndarray, classes: tuple[str, ...], title: str, path: Path) -> None:
    plt = _pyplot()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(12.0, max(4.0, 0.5 * len(classes) + 2))
    font = 8 if len(classes) <= 30 else 4
    fig, ax = plt.subplots(figsize=(size, size), dpi=90)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), labels=classes, rotation=90 if len(classes) > 10 else 45, ha="right",
                  fontsize=font)
    ax.set_yticks(range(len(classes)), labels=classes, fontsize=font)
    if len(classes) <= 20:
        for t in range(len(classes)):
            for p in range(len(classes)):
                ax.text(p, t, str(int(counts[t, p])), ha="center", va="center", fontsize=7,
                        color="white" if shares[t, p] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (colour: share of the row; numbers: test images)" if len(classes) <= 20
                  else "true (colour: share of the row)")
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
    fig, ax = plt.subplots(figsize=(min(16.0, max(5.0, 0.45 * len(columns) + 3)),
                                    min(16.0, max(3.0, 0.22 * len(classes) + 2))), dpi=90)
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(classes)), labels=classes, fontsize=7 if len(classes) <= 40 else 4)
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=60, ha="right",
                  fontsize=7 if len(columns) <= 30 else 4)
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


def tuning_curves(findings: dict, dataset: str, path: Path) -> bool:
    curves = [c for c in findings.get("tuning", []) if c["dataset"] == dataset]
    if not curves:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=90)
    for curve in curves:
        points = [(i + 1, v) for i, v in enumerate(curve["best_so_far"]) if v is not None]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=curve["cell"], linewidth=1.2, drawstyle="steps-post")
    ax.set_xlabel("tuning trials of the cell")
    ax.set_ylabel("best validation accuracy so far")
    ax.legend(fontsize=6)
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


def _file(kind: str, *names: str) -> str:
    """A figure's file name; a dataset or architecture named by a path (torchvision/SVHN,
    models/tiny.py:TinyNet) keeps only safe characters."""
    return "-".join([kind] + [re.sub(r"[^A-Za-z0-9_.]+", "_", str(n)).strip("_") for n in names]) + ".png"


def _save(fig, path: Path) -> None:
    fig.savefig(path, bbox_inches="tight")     # the canvas grows to fit long labels (tight_layout warns instead)
    import matplotlib.pyplot as plt

    plt.close(fig)
