"""How long the report of a large many-class sweep takes: `python benchmarks/report_scale.py`.

Writes result tables of a 200-trial, 100-class sweep (tests/many_classes.py: 4 architectures x 2
augmentations x 5 kernel sizes x 5 seeds, one planted weak class) with 100 test images per class
(CIFAR-100's test set) and with 1,000, then times `python -m analysis RUN_DIR` as a user runs it
(a fresh process: imports, reading, every test, figures, report.html), and in one process the
three parts: reading the tables, the findings, the figures and files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import many_classes  # noqa: E402

SHAPE = {"archs": ("a1", "a2", "a3", "a4"), "augments": ("none", "standard"), "kernels": (3, 5, 7, 9, 11),
         "seeds": (0, 1, 2, 3, 4)}


def parts(run: Path, out: Path) -> dict:
    from analysis import report
    from analysis.findings import analyse
    from analysis.load import load_runs

    start = time.perf_counter()
    results = load_runs([run])
    loaded = time.perf_counter()
    found = analyse(results)
    analysed = time.perf_counter()
    report.analyse = lambda _: found            # write_report without analysing again
    report.write_report(results, out)
    written = time.perf_counter()
    return {"read_s": loaded - start, "findings_s": analysed - loaded, "figures_and_files_s": written - analysed,
            "trials": len(results.trials), "weak_classes": len(found["weak_classes"])}


def measure(support: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        run = many_classes.write_run(Path(folder) / "big", classes=100, support=support, weak=5, **SHAPE)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "analysis", str(run), "--out", str(Path(folder) / "cli")],
                              cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(done.stderr[-2000:])
        row = {"classes": 100, "test_images_per_class": support, "command_s": wall,
               **parts(run, Path(folder) / "inproc")}
        row["html_bytes"] = (Path(folder) / "cli" / "report.html").stat().st_size
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "report_scale.json")
    args = parser.parse_args()
    rows = [measure(support) for support in (100, 1000)]
    print(f"{'trials':>7}{'classes':>8}{'imgs/cls':>9}{'command s':>10}{'read s':>8}{'findings s':>11}"
          f"{'figures s':>10}{'html MB':>8}")
    for r in rows:
        print(f"{r['trials']:>7}{r['classes']:>8}{r['test_images_per_class']:>9}{r['command_s']:>10.1f}"
              f"{r['read_s']:>8.1f}{r['findings_s']:>11.1f}{r['figures_and_files_s']:>10.1f}"
              f"{r['html_bytes'] / 1e6:>8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
