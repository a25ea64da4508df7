"""How often the report names weak classes that are not there, and finds one that is:
`python benchmarks/weak_classes.py [--sweeps N]`.

Null sweeps: every class is drawn alike (tests/many_classes.py: recall 0.80 plus seed-to-seed noise,
errors spread evenly), 2 architectures x 2 augmentations, 10 or 100 classes, 1 or 3 seeds, 1,000
test images per class (and 100 per class, CIFAR-100's test set, at 100 classes). A calibrated report
names any weak class (or any confused pair, or any "helps overall but hurts class X") in at most 5% of
them. Planted sweeps: one class's F1 0.10 below the others (1,000 test images per class); the share
of sweeps where that class is found weak for both architectures (goal: at least 95%), and where any
other class is named too.
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
sys.path.insert(0, str(REPO / "tests"))

import many_classes  # noqa: E402
from analysis.findings import analyse  # noqa: E402
from analysis.load import load_runs  # noqa: E402
from analysis.sentences import tradeoff_sentences  # noqa: E402

SETTINGS = [  # (kind, classes, support, seeds)
    ("null", 10, 1000, 1), ("null", 10, 1000, 3), ("null", 100, 1000, 1), ("null", 100, 1000, 3),
    ("null", 100, 100, 1), ("null", 100, 100, 3),
    ("planted", 10, 1000, 1), ("planted", 10, 1000, 3), ("planted", 100, 1000, 1), ("planted", 100, 1000, 3)]
WEAK = 3


def one_sweep(kind: str, classes: int, support: int, seeds: int, replicate: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        run = many_classes.write_run(Path(folder) / kind, classes=classes, support=support,
                                     seeds=tuple(range(seeds)), weak=WEAK if kind == "planted" else None,
                                     replicate=replicate)
        found = analyse(load_runs([run]))
    planted = many_classes.names(classes)[WEAK]
    weak = {(w["arch"], w["class"]) for w in found["weak_classes"]}
    return {"any_weak": bool(weak), "found": all((a, planted) in weak for a in ("custom_cnn", "alexnet_small")),
            "other_weak": any(c != planted for _, c in weak),
            "confused": any(p["confused"] for p in found["confused_pairs"]),
            "tradeoff": bool(tradeoff_sentences(found))}


def rates(kind: str, classes: int, support: int, seeds: int, sweeps: int) -> dict:
    start = time.perf_counter()
    outcomes = [one_sweep(kind, classes, support, seeds, r) for r in range(sweeps)]
    share = {key: sum(o[key] for o in outcomes) / sweeps for key in outcomes[0]}
    return {"kind": kind, "classes": classes, "test_images_per_class": support, "seeds": seeds, "sweeps": sweeps,
            **share, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", type=int, default=100, help="sweeps per setting")
    parser.add_argument("--only", help="one setting, KIND-CLASSES-IMAGES-SEEDS (e.g. null-10-1000-1)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "weak_classes.json")
    args = parser.parse_args()
    print(f"{'kind':>8}{'classes':>8}{'imgs/cls':>9}{'seeds':>6}{'sweeps':>7}{'any weak':>9}{'found':>7}"
          f"{'other':>7}{'pairs':>7}{'trade':>7}{'s':>6}")
    rows = []
    for setting in SETTINGS:
        if args.only and args.only != "-".join(map(str, setting)):
            continue
        r = rates(*setting, args.sweeps)
        rows.append(r)
        found = f"{r['found']:>7.2f}" if r["kind"] == "planted" else f"{'':>7}"
        print(f"{r['kind']:>8}{r['classes']:>8}{r['test_images_per_class']:>9}{r['seeds']:>6}{r['sweeps']:>7}"
              f"{r['any_weak']:>9.2f}{found}{r['other_weak']:>7.2f}{r['confused']:>7.2f}{r['tradeoff']:>7.2f}"
              f"{r['seconds']:>6.0f}", flush=True)
    print("any weak / pairs / trade: share of sweeps naming any weak class / confused pair / 'helps overall but "
          "hurts class X' (null goal <= 0.05); found: planted class weak for both architectures (goal >= 0.95); "
          "other: a class other than the planted one named weak")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
