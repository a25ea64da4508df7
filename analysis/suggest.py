"""A follow-up sweep that targets the weak classes a run found.

Only classes that pass the report's weak-class test are targeted; a (dataset, architecture) with
none gets no variants (the file says so), and a run with none at all gets no file (NothingToTarget).
For the best configuration of each (dataset, architecture) with weak classes it writes four variants: the
configuration as it is (the baseline, with the same seeds), class-targeted augmentation of the weak
classes (`augment.class_preset` on `augment.classes`), oversampling of the weak classes
(`data.oversample`, each image twice per epoch), and both. All run to their full budget (FIFO), so
`python -m analysis RUN_DIR FOLLOWUP_DIR` compares them pair by pair with the original.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from analysis.findings import analyse
from analysis.load import Results

SECTIONS = ("data", "model", "augment", "train")
OVERSAMPLE = 2.0


class NothingToTarget(Exception):
    """No class passed the weak-class test: a follow-up would target noise."""


def suggest(results: Results, name: str | None = None) -> str:
    found = analyse(results)
    variants, comments, skipped = [], [], []
    for row in found["leaderboard"]:
        targets = weak_targets(found, row["dataset"], row["arch"])
        if not targets:
            skipped.append(f"{row['dataset']} / {row['arch']}")
            continue
        best = results.trials.loc[row["trials"][0]]
        config = recorded_config(results, best) or config_of(best)
        stronger = "standard" if config["augment"].get("preset", "none") == "none" else "strong"
        classes = [c for c, _ in targets]
        comments.append(f"{row['dataset']} / {row['arch']}: {', '.join(f'{c} (F1 {f:.2f})' for c, f in targets)}; "
                        f"baseline {row['config']} (test {row['test_accuracy']:.4f})")
        variants += [
            config,
            _merge(config, {"augment": {"class_preset": stronger, "classes": classes}}),
            _merge(config, {"data": {"oversample": {c: OVERSAMPLE for c in classes}}}),
            _merge(config, {"augment": {"class_preset": stronger, "classes": classes},
                            "data": {"oversample": {c: OVERSAMPLE for c in classes}}})]
    if not variants:
        lowest = sorted(found["class_ranking"], key=lambda r: (r["rank"], r["arch"]))[:3]
        raise NothingToTarget(
            f"no class is weak in {', '.join(r['name'] for r in results.runs)} after the correction for the "
            f"{found['tested_classes']} classes tested (lowest F1: "
            + ", ".join(f"{r['class']} {r['f1']:.2f} with {r['arch']}" for r in lowest)
            + "); no follow-up written: more test images or seeds would show whether they are weak")
    base = results.runs[0]["name"]
    sweep = {"name": name or f"{base}-followup",
             "question": "Do class-targeted augmentation and oversampling raise the weak classes' F1, "
                         "and at what cost to the others?",
             "fixed": {}, "variants": variants, "seeds": max(1, int(results.trials["seed"].nunique())),
             "scheduler": {"kind": "fifo"}}
    header = ["# Question: do class-targeted augmentation and oversampling help the weak classes that",
              f"# `python -m analysis` found in {', '.join(r['name'] for r in results.runs)}?",
              "# Targets (classes that pass the report's weak-class test):"]
    header += [f"#   {c}" for c in comments]
    header += [f"#   {s}: no weak class; not targeted" for s in skipped]
    header += [f"# Run: python -m raycnn.sweep FILE, then python -m analysis {results.runs[0]['path']} "
               f"runs/{sweep['name']}"]
    return "\n".join(header) + "\n" + yaml.dump(sweep, Dumper=_PlainDumper, sort_keys=False,
                                                 default_flow_style=None, width=110)


def weak_targets(found: dict, dataset: str, arch: str) -> list[tuple[str, float]]:
    return [(w["class"], w["f1"]) for w in found["weak_classes"] if (w["dataset"], w["arch"]) == (dataset, arch)]


def recorded_config(results: Results, row) -> dict | None:
    """The trial's configuration as its run recorded it (RUN_DIR/sweep.yaml: every setting, nulls included,
    so a setting switched off stays off in the follow-up); None when the file does not list the trial."""
    run = next((r for r in results.runs if r["name"] == row["run"]), None)
    path = Path(run["path"]) / "sweep.yaml" if run else None
    if path is None or not path.exists():
        return None
    trials = (yaml.safe_load(path.read_text()) or {}).get("trials") or []
    found = next((t["config"] for t in trials if t.get("trial_id") == row["trial_id"]), None)
    if found is None:
        return None
    config = {section: dict(values) for section, values in found.items()}
    config["train"].pop("seed", None)                # seeds come from the sweep's `seeds`
    return config


def config_of(row) -> dict:
    """The trial's configuration from the table's section.key columns (JSON text back to values)."""
    config: dict = {section: {} for section in SECTIONS}
    for column, value in row.items():
        section, _, key = str(column).partition(".")
        if section not in SECTIONS or not key or _missing(value):
            continue
        if isinstance(value, str) and value[:1] in "[{":
            value = json.loads(value)
        elif hasattr(value, "item"):
            value = value.item()
        config[section][key] = value
    config["model"].setdefault("arch", str(row["arch"]))
    config["data"].setdefault("dataset", str(row["dataset"]))
    config["augment"].setdefault("preset", str(row["augment"]))
    config["model"].setdefault("kernel_size", int(row["kernel_size"]))
    config["train"].pop("seed", None)                # seeds come from the sweep's `seeds`
    return config


class _PlainDumper(yaml.SafeDumper):
    """No &anchors / *aliases: every variant spelled out."""

    def ignore_aliases(self, data) -> bool:
        return True


def _merge(config: dict, change: dict) -> dict:
    merged = {section: dict(values) for section, values in config.items()}
    for section, values in change.items():
        merged[section].update(values)
    return merged


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
