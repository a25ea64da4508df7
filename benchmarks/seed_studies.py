"""The users' seed studies, run as users run them: `python benchmarks/seed_studies.py [--only NAME ...]`.

Each study with offline data runs through `python -m raycnn.sweep sweeps/<file>` and `python -m analysis`
from a scratch project folder, with a relative data root, at a budget this 2-core CPU affords (said per
study), in up to two forms: the users' own recipe at the users' epochs where that fits ("same epochs"),
and raycnn's default recipe at a short budget ("raycnn"). It prints one table and writes JSON: the
users' number, raycnn's numbers, wall time, and whether the report's conclusions match the users'
(winner, weakest classes, most confused pair, whether augmentation helped).

    python benchmarks/seed_studies.py --data ../shared/datasets            # every study (about 2 h here)
    python benchmarks/seed_studies.py --only sample25 flowers17
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    form: str                      # "same epochs" (the users' recipe) or "raycnn" (its defaults)
    sets: tuple[str, ...]          # --set overrides (DATA: the data root, relative to the project folder)
    budget: str                    # what was run, in words


@dataclass(frozen=True)
class Study:
    name: str                      # sweeps/<name>.yaml
    users: dict                    # "dataset arch [aug]" -> the users' test accuracy
    runs: tuple[Run, ...]
    expect: dict = field(default_factory=dict)   # the users' conclusions: winner, weakest, confused, aug_helps
    keyed_by: tuple[str, ...] = ()     # settings beyond dataset and arch that tell the study's configurations apart


CPU = ("resources.gpus=0", "resources.cpus=1", "fixed.train.device=cpu")   # two trials at a time on 2 cores
RECIPE_KEYS = ("optimizer", "lr", "schedule", "plateau_patience", "plateau_factor", "early_stopping", "weight_decay",
               "momentum", "batch_size", "label_smoothing", "test_time_flip", "ema_decay", "warmup_epochs")


STUDIES = (
    Study("custom_vs_alexnet", {"cifar10 custom_cnn": 0.8574, "cifar10 alexnet_cifar": 0.7533},
          (Run("raycnn", ("fixed.data.data_root=DATA", "seeds=1", "fixed.train.epochs=10", "fixed.data.subset=0.2"),
               "raycnn's defaults, 10 epochs, 1 seed, 20% of CIFAR-10 (the users' 50 epochs of both models on all of "
               "it: ~4 h here; full-data 10-epoch numbers: README Time to accuracy)"),),
          {"winner": "custom_cnn", "weakest": ["cat"], "confused": {"cat", "dog"}}),
    Study("sample25", {"cifar10 custom_cnn none": 0.663, "cifar10 custom_cnn standard": 0.703, "mnist custom_cnn none": 0.982,
                       "mnist custom_cnn standard": 0.984},
          (Run("same epochs", ("fixed.data.data_root=DATA", "seeds=1"),
               "the users' recipe (Adam 1e-3, up to 30 epochs, early stopping 5), 1 seed"),
           Run("raycnn", ("fixed.data.data_root=DATA", "seeds=1", "fixed.train.epochs=10"),
               "raycnn's defaults, 10 epochs, 1 seed")),
          {"weakest": ["cat", "bird", "deer"], "aug_helps": True}, ("augment",)),
    Study("flowers17", {"imagefolder alexnet batch_norm=True optimizer=adadelta lr=0.001": 0.099},
          (Run("same epochs", ("fixed.data.data_path=DATA/flowers17", "fixed.train.epochs=10"),
               "4 recipes x 10 epochs, 1 seed, 224 px (the users' epochs are not recorded)"),),
          {"failed": "imagefolder alexnet batch_norm=True optimizer=adadelta lr=0.001"},
          ("batch_norm", "optimizer", "lr")),
    Study("fashion_mnist", {},
          (Run("raycnn", ("fixed.data.data_root=DATA", "seeds=1", "space.model.arch=[custom_cnn,alexnet_small]"),
               "raycnn's defaults, 10 epochs, 1 seed, custom_cnn and alexnet_small (alexnet_cifar: ~40 min, left out)"),),
          {"weakest": ["shirt"], "confused": {"shirt", "t-shirt/top"}}),
)
NOT_OFFLINE = {"cifar100_kernels": "CIFAR-100 (63.2% 3x3 vs 59.6% 5x5) has no offline copy here",
               "alexnet_original": "the 5 flower classes (77.5% validation) have no offline copy here"}


def raycnn_file(name: str, project: Path) -> Path:
    """The study file with the users' recipe taken out (train keys and custom_cnn's dropout, in fixed and in
    every variant), so that raycnn's defaults train it: written beside the project, run like the original."""
    import yaml

    raw = yaml.safe_load((REPO / "sweeps" / f"{name}.yaml").read_text())
    for block in [raw.get("fixed") or {}] + list(raw.get("variants") or []):
        train = block.get("train") or {}
        for key in RECIPE_KEYS:
            train.pop(key, None)
        (block.get("model") or {}).pop("dropout", None)
        (block.get("augment") or {}).pop("preset", None)      # the users' augmentation (a swept one stays)
    path = project / f"{name}-raycnn.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_study(study: Study, run: Run, data: Path, project: Path) -> dict:
    name = f"{study.name}-{run.form.replace(' ', '-')}"
    file = raycnn_file(study.name, project) if run.form == "raycnn" else REPO / "sweeps" / f"{study.name}.yaml"
    sets = [item.replace("DATA", os.path.relpath(data, project)) for item in run.sets + CPU]
    command = [sys.executable, "-m", "raycnn.sweep", os.path.relpath(file, project),
               "--name", name, "--storage", "runs", *[arg for s in sets for arg in ("--set", s)]]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"form": run.form, "budget": run.budget, "error": done.stderr.strip().splitlines()[-1:], "wall_s": wall}
    report = subprocess.run([sys.executable, "-m", "analysis", f"runs/{name}"], cwd=project, capture_output=True, text=True)
    findings = json.loads((project / "runs" / name / "report" / "findings.json").read_text()) if report.returncode == 0 else {}
    return {"form": run.form, "budget": run.budget, "wall_s": wall, "accuracy": accuracies(findings, study.keyed_by),
            "conclusions": conclusions(findings, study.expect), "command": " ".join(command[1:])}


def accuracies(findings: dict, keyed_by: tuple[str, ...]) -> dict:
    """'dataset arch [setting=value ...]' -> the mean test accuracy of that configuration (the best one where
    several share the key)."""
    found = {}
    for cell in findings.get("cells", []):
        key = " ".join([cell["dataset"], cell["arch"], *setting_values(cell["factors"], keyed_by)])
        found[key] = max(found.get(key, 0.0), cell["accuracy"])
    return found


def setting_values(factors: dict, names: tuple[str, ...]) -> list[str]:
    """'name=value' for each of `names`; the report joins settings that vary together ('a+b': 'x / y')."""
    values = {}
    for joined, text in factors.items():
        values.update(zip(joined.split("+"), text.split(" / ")))
    return [f"{name}={values[name]}" if name != "augment" else values[name] for name in names if name in values]


def conclusions(findings: dict, expect: dict) -> dict:
    """What the report concludes, beside what the users concluded."""
    out = {}
    winners = findings.get("winners", [])
    if "winner" in expect and winners:
        out["winner"] = {"users": expect["winner"], "raycnn": winners[0]["winner"],
                         "match": winners[0]["winner"] == expect["winner"]}
    ranking = [r for r in findings.get("class_ranking", []) if r["rank"] <= 3]
    if "weakest" in expect and ranking:
        lowest = sorted({r["class"] for r in ranking if r["dataset"] != "mnist"}, key=lambda c: min(
            r["rank"] for r in ranking if r["class"] == c))
        weak = sorted({w["class"] for w in findings.get("weak_classes", [])})
        out["weakest"] = {"users": expect["weakest"], "raycnn_lowest3": lowest, "raycnn_tested_weak": weak,
                          "match": bool({c.lower() for c in expect["weakest"]} & {c.lower() for c in lowest[:3]})}
    pairs = findings.get("confused_pairs", [])
    if "confused" in expect and pairs:
        top = max(pairs, key=lambda p: p["rate"])
        out["confused"] = {"users": sorted(expect["confused"]), "raycnn": [top["true"], top["pred"]],
                           "match": {top["true"].lower(), top["pred"].lower()} == {c.lower() for c in expect["confused"]}}
    if "failed" in expect:
        found = accuracies(findings, ("batch_norm", "optimizer", "lr"))
        failed, others = found.get(expect["failed"]), {k: v for k, v in found.items() if k != expect["failed"]}
        if failed is not None and others:
            classes = {r["classes"] for r in findings.get("class_ranking", [])}
            chance = 1 / max(classes) if classes else None
            best = max(others, key=others.get)
            out["failed"] = {"users": f"{expect['failed']} failed (near chance)", "raycnn": round(failed, 4),
                             "chance": chance, "best_other": [best, round(others[best], 4)],
                             "match": failed < 2 * (chance or 1 / 17)}
    if "aug_helps" in expect:
        overall = [e for e in findings.get("augmentation_effects", []) if e["class"] is None and e["dataset"] == "cifar10"]
        if overall:
            helped = all(e["delta"] > 0 for e in overall)
            out["aug_helps"] = {"users": expect["aug_helps"], "raycnn": [round(e["delta"], 4) for e in overall],
                                "match": helped == expect["aug_helps"]}
    return out


def print_table(results: list[dict]) -> None:
    print(f"\n{'study':<18}{'form':<13}{'wall min':>9}  {'configuration':<58}{'users':>7}{'raycnn':>8}  conclusions")
    for study in results:
        for run in study["runs"]:
            keys = sorted(set(run.get("accuracy", {})) | set(study["users"])) or ["-"]
            verdicts = "; ".join(f"{k}: {'yes' if v['match'] else 'NO'}" for k, v in run.get("conclusions", {}).items())
            wall = f"{run['wall_s'] / 60:.1f}"
            for i, key in enumerate(keys):
                users = study["users"].get(key)
                mine = run.get("accuracy", {}).get(key)
                print(f"{study['name'] if i == 0 else '':<18}{run['form'] if i == 0 else '':<13}"
                      f"{wall if i == 0 else '':>9}  {key:<58}{_pct(users):>7}{_pct(mine):>8}  "
                      f"{verdicts if i == 0 else ''}{run.get('error', '') if i == 0 else ''}")
    for name, why in NOT_OFFLINE.items():
        print(f"{name:<18}not run: {why} (planned with --dry-run in the test suite)")


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--only", nargs="*", help="study names (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "seed_studies.json")
    parser.add_argument("--project", type=Path, default=REPO / "benchmarks" / "results" / "seed_studies",
                        help="the folder the sweeps run from (runs/<study>-<form>/, with their reports)")
    args = parser.parse_args()
    project = args.project.resolve()          # kept: the runs and their reports, to read as a user would
    project.mkdir(parents=True, exist_ok=True)
    results = earlier(args.out) if args.only else {}     # --only: the other studies' rows stay in the table
    for study in STUDIES:
        if args.only and study.name not in args.only:
            continue
        runs = [run_study(study, run, args.data.resolve(), project) for run in study.runs]
        results[study.name] = {"name": study.name, "users": study.users, "runs": runs, "cpu": cpu(),
                               "date": time.strftime("%Y-%m-%d")}
        print(json.dumps(results[study.name], indent=1), flush=True)
        write(args.out, results)              # after each study: a stopped run keeps the studies it finished
    print_table([results[s.name] for s in STUDIES if s.name in results])


def earlier(path: Path) -> dict:
    """The studies a previous run wrote to `path`, by name."""
    try:
        return {study["name"]: study for study in json.loads(path.read_text())["studies"]}
    except (OSError, ValueError, KeyError):
        return {}


def write(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = [results[s.name] for s in STUDIES if s.name in results]
    path.write_text(json.dumps({"studies": ordered, "not_offline": NOT_OFFLINE}, indent=1))


def cpu() -> str:
    from raycnn.environment import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
