"""What ASHA saves: `python benchmarks/asha_savings.py`.

Runs the same grid twice on digits (custom_cnn and alexnet_small x kernel 3/5 x none/flip_crop x
2 learning rates: 16 trials, 12 epochs each), once with ASHA (grace 2, reduction factor 3) and once
with FIFO (every trial to the end), and compares epochs and seconds used and the winner by validation
accuracy (its test accuracy too). Targets: ASHA uses <= 40% of the epochs; same winner, or one within
0.5 points of the full grid's best. Writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from raycnn.sweep.run import run_sweep  # noqa: E402
from raycnn.sweep.expand import expand_trials  # noqa: E402
from raycnn.sweep.spec import sweep_from_dict  # noqa: E402


def run(kind: str, storage: str, epochs: int) -> dict:
    sweep = sweep_from_dict({
        "name": f"asha-{kind}", "question": "What does ASHA save on this grid?",
        "fixed": {"data": {"dataset": "digits"}, "train": {"epochs": epochs, "batch_size": 64, "device": "cpu"}},
        "space": {"model.arch": ["custom_cnn", "alexnet_small"], "model.kernel_size": [3, 5],
                  "augment.preset": ["none", "flip_crop"], "train.lr": [0.001, 0.003]},
        "scheduler": {"kind": kind, "grace_period": 2, "reduction_factor": 3},
        "resources": {"cpus": 1}, "max_concurrent": 2, "storage": storage}, "benchmark")
    start = time.perf_counter()
    run_sweep(sweep, expand_trials(sweep), address=None, resume=False)
    wall = time.perf_counter() - start
    rows = pq.read_table(Path(storage) / sweep.name / "results" / "trials.parquet").to_pylist()
    best = max(rows, key=lambda r: r["best_val_accuracy"])
    return {"scheduler": kind, "wall_seconds": wall, "epochs": sum(r["epochs_completed"] for r in rows),
            "training_seconds": sum(r["train_seconds"] for r in rows),
            "stopped_early": sum(r["status"] == "early_stopped" for r in rows),
            "winner": best["trial_name"], "winner_val_accuracy": best["best_val_accuracy"],
            "winner_test_accuracy": best["test_accuracy"],
            "val_accuracy_by_trial": {r["trial_name"]: r["best_val_accuracy"] for r in rows}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "asha_savings.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as storage:
        asha, full = run("asha", storage, args.epochs), run("fifo", storage, args.epochs)
    share = asha["epochs"] / full["epochs"]
    gap = full["winner_val_accuracy"] - full["val_accuracy_by_trial"][asha["winner"]]
    print(f"\n{'scheduler':<10}{'epochs':>8}{'train s':>9}{'wall s':>8}{'stopped':>9}  winner (val / test)")
    for r in (asha, full):
        print(f"{r['scheduler']:<10}{r['epochs']:>8}{r['training_seconds']:>9.1f}{r['wall_seconds']:>8.1f}"
              f"{r['stopped_early']:>9}  {r['winner']} ({r['winner_val_accuracy']:.4f} / {r['winner_test_accuracy']:.4f})")
    print(f"\nASHA used {share:.0%} of the full grid's epochs (target <= 40%); its winner is "
          f"{'the same' if asha['winner'] == full['winner'] else 'different'}, {gap * 100:.2f} points below the "
          f"full grid's best when trained to the end (target <= 0.5)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"asha": asha, "fifo": full, "epoch_share": share,
                                    "winner_gap_points": gap * 100}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
