"""How often the report's 95% intervals exclude zero when nothing is there: `python benchmarks/interval_coverage.py`.

Builds result tables where augmentation has no effect at all (tests/planted.py's layout: 5 classes,
2,000 test images each), with noise of two kinds: seed-to-seed (each class's recall moves by N(0, sd)
per trial) and test-set sampling (each class's correct count drawn binomially). For each setting it
analyses many such sweeps and counts the intervals (overall accuracy; per-class F1) that exclude 0.
A calibrated 95% interval does so about 5% of the time; fewer is conservative.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import planted  # noqa: E402
from analysis.findings import analyse  # noqa: E402
from analysis.load import load_runs  # noqa: E402

SETTINGS = [  # (seed-to-seed sd of recall, binomial test sampling, seeds)
    (0.0, True, 1), (0.0, True, 3), (0.02, False, 3), (0.02, False, 5), (0.02, True, 3)]


def null_sweep(folder: Path, replicate: int, seed_sd: float, sampled: bool, seeds: int) -> Path:
    rng = np.random.default_rng(replicate)

    def recalls(arch, augment, kernel, seed, plan=None):
        noise = np.random.default_rng(zlib.crc32(f"{replicate}-{arch}-{augment}-{kernel}-{seed}".encode()))
        base = {c: 0.90 for c in planted.CLASSES} | {"cat": 0.55}          # the same for every setting
        return {c: float(np.clip(r + noise.normal(0, seed_sd), 0, 1)) for c, r in base.items()}

    def confusion(recall):
        matrix = np.zeros((len(planted.CLASSES),) * 2, dtype=np.int64)
        for t, name in enumerate(planted.CLASSES):
            right = rng.binomial(planted.SUPPORT, recall[name]) if sampled else round(planted.SUPPORT * recall[name])
            matrix[t, t] = right
            matrix[t, planted.CLASSES.index(planted.ERRORS_TO[name])] += planted.SUPPORT - right
        return matrix

    planted.recalls, planted.confusion = recalls, confusion
    return planted.write_run(folder, archs=("custom_cnn",), seeds=tuple(range(seeds)))


def coverage(seed_sd: float, sampled: bool, seeds: int, replicates: int) -> dict:
    counts = {"overall": [0, 0], "class": [0, 0]}
    for replicate in range(replicates):
        with tempfile.TemporaryDirectory() as folder:
            found = analyse(load_runs([null_sweep(Path(folder) / "null", replicate, seed_sd, sampled, seeds)]))
        for effect in found["augmentation_effects"]:
            kind = "overall" if effect["class"] is None else "class"
            counts[kind][0] += effect["ci_low"] > 0 or effect["ci_high"] < 0
            counts[kind][1] += 1
    return {"seed_sd": seed_sd, "test_sampling": sampled, "seeds": seeds, "sweeps": replicates,
            **{f"{kind}_excluding_zero": hits / total for kind, (hits, total) in counts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=200, help="null sweeps per setting")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "interval_coverage.json")
    args = parser.parse_args()
    rows = [coverage(sd, sampled, seeds, args.replicates) for sd, sampled, seeds in SETTINGS]
    print(f"{'seed sd':>8}{'test sampling':>15}{'seeds':>7}{'overall':>9}{'per class':>11}   (share of 95% "
          f"intervals excluding 0 with no effect; ~0.05 = calibrated)")
    for r in rows:
        print(f"{r['seed_sd']:>8}{str(r['test_sampling']):>15}{r['seeds']:>7}{r['overall_excluding_zero']:>9.3f}"
              f"{r['class_excluding_zero']:>11.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
