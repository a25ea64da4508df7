"""Does a tuned comparison rank the cells like a fine learning-rate grid does, more often than a
comparison at one fixed learning rate? `python benchmarks/tuned_ranking.py [--study kernels|optimizers]`

Cells (--study kernels): {custom_cnn, alexnet_small} x kernel {3, 5}; (--study optimizers):
{custom_cnn, alexnet_small} x optimizer {adam, sgd}, whose best learning rates differ by ~30x, over
lr 1e-4 .. 0.3. On digits, 4 epochs, batch 64. The reference: every
cell at 8 learning rates (log-spaced over the range) x 2 seeds; a cell's score is the mean test
accuracy at the learning rate with the best mean validation accuracy. Then, at the same budget per
replicate (24 trials of 4 epochs each): the tuned comparison (tune: TPE over train.lr, 4 tuning trials
per cell, 2 confirm seeds; scored on the confirm trials), the same with BOHB (7 tuning trials per cell in
HyperBand brackets, keep 1/2: about the epochs of TPE's 4; the epochs each spent are in the table) and the
fixed-lr comparison (lr 1e-3, 6 seeds per cell). `--methods` picks some of tpe, bohb, fixed. Each replicate uses
other seeds (the searchers' seed, the fixed grid's training seeds).
Agreement with the reference: Kendall's tau of the 4 cells' order, and whether the top cell matches.
Real sweeps through Ray on this machine: several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
COMMON = """fixed: {data: {dataset: digits}, train: {epochs: 4, batch_size: 64, device: cpu}}
resources: {cpus: 1}
max_concurrent: 2
"""
FIFO = "scheduler: {kind: fifo}\n"
TUNERS = {  # searcher: tuning trials per cell, scheduler
    "tpe": (4, FIFO),
    "bohb": (7, "scheduler: {reduction_factor: 2}\n"),   # brackets of 4 from 1 epoch + 3 from 2: 18 epochs per cell
}
STUDIES = {  # cells, lr range
    "kernels": ("space:\n  model.arch: [custom_cnn, alexnet_small]\n  model.kernel_size: [3, 5]\n", (3e-4, 1e-2)),
    "optimizers": ("space:\n  model.arch: [custom_cnn, alexnet_small]\n  train.optimizer: [adam, sgd]\n", (1e-4, 0.3)),
}


def run_sweep(folder: Path, name: str, body: str) -> list[dict]:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nquestion: which cell is best?\n{COMMON}{body}")
    done = subprocess.run([sys.executable, "-m", "raycnn.sweep", str(path), "--storage", str(folder / "runs")],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if done.returncode:
        raise SystemExit(f"{name}: {done.stderr[-2000:]}")
    return pq.read_table(folder / "runs" / name / "results" / "trials.parquet").to_pylist()


def cell(row: dict) -> str:
    return f"{row['arch']} k{row['kernel_size']} {row['train.optimizer']}"


def scores(rows: list[dict]) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(cell(r), []).append(r["test_accuracy"])
    return {c: float(np.mean(v)) for c, v in out.items()}


def reference_scores(rows: list[dict]) -> dict[str, float]:
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((cell(r), r["train.lr"]), []).append(r)
    best: dict[str, tuple[float, float]] = {}
    for (c, _), group in by.items():
        val, test = np.mean([g["best_val_accuracy"] for g in group]), np.mean([g["test_accuracy"] for g in group])
        if c not in best or val > best[c][0]:
            best[c] = (float(val), float(test))
    return {c: test for c, (_, test) in best.items()}


def agreement(candidate: dict[str, float], reference: dict[str, float]) -> tuple[float, bool]:
    from scipy.stats import kendalltau

    cells = sorted(reference)
    tau = kendalltau([candidate[c] for c in cells], [reference[c] for c in cells]).statistic
    return float(tau), max(candidate, key=candidate.get) == max(reference, key=reference.get)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--study", choices=sorted(STUDIES), default="kernels")
    parser.add_argument("--methods", default="tpe,bohb,fixed", help="comma-separated: tpe, bohb, fixed")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.out = args.out or REPO / "benchmarks" / "results" / f"tuned_ranking_{args.study}.json"
    cells, (low, high) = STUDIES[args.study]
    lrs = [float(v) for v in np.geomspace(low, high, 8)]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    names = {**{k: f"tuned ({k})" for k in TUNERS}, "fixed": "fixed lr 1e-3"}
    if not methods or set(methods) - set(names):
        parser.error(f"--methods: choose from {', '.join(names)}, comma-separated")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reference = reference_scores(run_sweep(folder, "reference", FIFO + cells + f"  train.lr: {lrs}\n"
                                               "  train.seed: [0, 1]\n"))
        rows = []
        for r in range(args.replicates):
            for method in methods:
                if method == "fixed":
                    seeds = list(range(10 + 6 * r, 16 + 6 * r))
                    ran = run_sweep(folder, f"fixed{r}", FIFO + cells + f"  train.seed: {seeds}\n")
                    compared = ran
                else:
                    samples, scheduler = TUNERS[method]
                    ran = run_sweep(folder, f"{method}{r}", scheduler + cells + "tune:\n  space: {train.lr: "
                                    f"{{loguniform: [{low}, {high}]}}}}\n  num_samples: {samples}\n  searcher: {method}\n"
                                    f"  confirm_seeds: 2\n  seed: {r}\n")
                    compared = [t for t in ran if t["stage"] == "confirm"]
                found = scores(compared)
                tau, top = agreement(found, reference)
                rows.append({"replicate": r, "method": names[method], "kendall_tau": tau, "same_top_cell": top,
                             "epochs": int(sum(t["epochs_completed"] or 0 for t in ran)), "scores": found})
    summary = {m: {"mean_kendall_tau": float(np.mean([x["kendall_tau"] for x in rows if x["method"] == m])),
                   "same_top_cell": sum(x["same_top_cell"] for x in rows if x["method"] == m)}
               for m in (names[k] for k in methods)}
    print("reference (fine lr grid, best lr per cell): " + ", ".join(f"{c} {s:.3f}" for c, s in
                                                                       sorted(reference.items(), key=lambda i: -i[1])))
    print(f"{'method':<16}{'replicate':>10}{'kendall tau':>13}{'same top':>10}{'epochs':>8}   scores")
    for x in rows:
        print(f"{x['method']:<16}{x['replicate']:>10}{x['kendall_tau']:>13.2f}{str(x['same_top_cell']):>10}"
              f"{x['epochs']:>8}   "
              + ", ".join(f"{c} {s:.3f}" for c, s in sorted(x["scores"].items())))
    for method, s in summary.items():
        print(f"{method}: mean tau {s['mean_kendall_tau']:.2f}, same top cell in {s['same_top_cell']} of {args.replicates}")
    print(f"{time.perf_counter() - start:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"reference": reference, "rows": rows, "summary": summary}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
