"""What the results say: leaderboard, factor effects, weak classes and what helps them (effects.py holds the
factor effects, claims.py the tested claims across datasets and the Pareto front).

Rules (stated in every report):
- Budgets: a trial that ran to its own end (completed, or stopped by its patience rule) has the
  budget "full"; one that ASHA stopped after N epochs has the budget "epoch N". Trials are only
  compared with trials of the same budget: a matched pair must share it, and the leaderboard takes
  each configuration's full runs (a configuration that ASHA stopped in every seed is shown with its
  budget, never mixed with full runs).
- Effects are differences over matched pairs: two trials of the same dataset and architecture that
  differ only in the factor (same other settings, same seed, same budget). Baselines: augmentation
  `none`, the smallest kernel, the first architecture in alphabetical order, and for other fields the empty / zero
  / smallest value.
- Weak class: a tested claim. Per (dataset, architecture), each class's F1 and recall averaged over
  every configuration (its full runs; the largest budget where there are none) are compared with the
  mean over classes of the same trials: a class is weak when both are below the mean by at least 0.02
  and a one-sided normal test (its error: the test set's sampling plus the trial-to-trial spread of
  the class's gap, over seeds and configurations) of "no lower than the mean" gives p < 0.05 for both (the larger p
  counts) after Holm's correction over every class tested in the report (every dataset and
  architecture): the chance that a report names any class weak when none is weaker is at most 5%.
  (Recall too, so that a class whose F1 is low only because another class's images are predicted as
  it is not called weak.) Classes are ranked by F1 whether or not any passes.
- Weak for every architecture: weak (as above) for each architecture of the dataset.
- Confused pairs: the share of a true class predicted as another, summed over the best
  configuration's seeds, tested against chance (the class's errors spread evenly over the other
  classes; one-sided binomial test) with Holm's correction over every pair in the report. The top
  three pairs by share are listed either way, marked when they do not pass.
- A change that helps overall accuracy but hurts a class: the overall effect's 95% interval excludes
  0, and the class's F1 change has the other sign with p < 0.05 after Holm's correction over the
  classes of that change.
- Early training: trials stopped by ASHA are compared at the epoch they reached; such findings are
  claims about early training and come after the full-budget ones in the summary.
- Tuned comparisons: every cell of the grid was tuned on its own (its tuning trials), then its best
  values were trained again with fresh seeds (the confirm stage). Cells are compared on the confirm
  trials only: the tuning trials were chosen by validation accuracy, so their scores are biased up.
  The tuned fields are not factors (each cell has its own best values).
- Pareto front: per dataset, configurations at the full budget (or the largest one) for which no
  other is at least as accurate (mean test accuracy) and at least as cheap (parameters; training
  seconds; images/s), and better in one of the two.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pandas as pd

from analysis.claims import decide_confused, decide_weak, pareto
from analysis.effects import effects, marginal_means
from analysis.interactive import importance, settings
from analysis.load import Results, factor_columns, short, value_text
from analysis.stats import Bootstrap
from analysis.tuning import searched_fronts, tuning_curves
from analysis.values import largest_budget, mean_of



def analyse(results: Results) -> dict:
    boot = Bootstrap(results.confusion)
    boot.prepare(results.trials.index)
    findings: dict = {"runs": results.runs, "left_out": results.left_out, "cannot_conclude": [],
                      "leaderboard": [], "winners": [], "weak_classes": [], "class_ranking": [],
                      "confused_pairs": [], "shared_weak_classes": [], "marginal_means": [],
                      "augmentation_effects": [], "kernel_effects": [], "arch_effects": [], "other_effects": [],
                      "interactions": [], "cells": [], "pareto": [], "importance": []}
    contexts, pairs = [], []
    for dataset, trials in results.trials.groupby("dataset", sort=True):
        names = results.classes.get(dataset) or tuple(str(i) for i in range(len(results.confusion[trials.index[0]])))
        trials, columns = factor_columns(trials)
        context = Dataset(str(dataset), trials, names, boot, columns)
        pairs += context.leaderboard(findings)
        effects(context, findings)
        marginal_means(context, findings)
        context.cells(findings)
        findings["importance"] += [{"dataset": str(dataset), **row}
                                   for row in importance(trials, settings(trials, columns))]
        _caveats(context, findings)
        contexts.append(context)
    decide_weak(findings)
    decide_confused(pairs, findings)
    for context in contexts:
        context.shared_weak(findings)
    findings["pareto"] = pareto(findings["cells"])
    findings["tuning"] = tuning_curves(results)
    objectives = next((r["objectives"] for r in results.runs if len(r.get("objectives") or []) > 1), [])
    findings["objectives"] = objectives
    findings["searched_front"] = searched_fronts(results.tuning, objectives)
    findings["compute"] = compute_spent(results)
    findings["hardware"] = _hardware(results.trials)
    return findings


class Dataset:
    def __init__(self, name: str, trials: pd.DataFrame, classes: tuple[str, ...], boot: Bootstrap,
                 columns: list[str]):
        self.name, self.trials, self.classes, self.boot, self.columns = name, trials, classes, boot, columns
        # settings each arch has one value of here (a variant's own options): its name already says them
        self.by_arch = {c for c in columns if trials.groupby("arch")[c].agg(lambda v: v.map(value_text).nunique()).max() < 2}
        # a multi-objective tuned sweep confirms several members of a cell's front: each is a configuration
        self.members = "tuned" in trials.columns and "cell" in trials.columns and bool(
            (trials.groupby("cell")["tuned"].nunique() > 1).any())
        self.estimates: dict[str, dict] = {}     # arch -> {(factor, value, baseline): paired Estimate}
        self.budgets: dict[tuple, list[str]] = {}   # (arch, factor, value, baseline) -> budgets of its pairs

    # --- leaderboard, weak classes, confused pairs -----------------------------------------------

    def leaderboard(self, findings: dict) -> list[dict]:
        """Leaderboard and winner rows, class rankings; returns the confusion tests still to correct."""
        rows, pairs = [], []
        for arch, trials in self.trials.groupby("arch", sort=True):
            members = self.best_configuration(trials)
            rows.append(self.board_row(str(arch), members))
            self.rank_classes(str(arch), trials, members, findings)
            pairs.append(self.confusion_test(str(arch), members))
        rows.sort(key=lambda r: -r["test_accuracy"])
        findings["leaderboard"] += [{k: v for k, v in r.items() if k != "estimate"} for r in rows]
        if len(rows) > 1:
            top, second = rows[0], rows[1]
            delta = top["estimate"] - second["estimate"]
            low, high = delta.interval()
            findings["winners"].append({"dataset": self.name, "winner": top["arch"], "runner_up": second["arch"],
                                        "delta": float(delta.point[0]), "ci_low": float(low[0]),
                                        "ci_high": float(high[0]), "budgets": [top["budget"], second["budget"]],
                                        "equal_budget": top["budget"] == second["budget"]})
        return pairs

    def best_configuration(self, trials: pd.DataFrame) -> pd.DataFrame:
        """The configuration (all settings but the seed) with the best mean validation accuracy,
        among full runs where there are any."""
        full = trials[trials["budget"] == "full"]
        pool = full if len(full) else trials[trials["budget"] == largest_budget(trials)]
        score = pool["best_val_accuracy"].astype(float)
        if score.isna().all():       # no validation column: the test accuracy decides
            score = pd.Series([self.boot.point(k)[0] for k in pool.index], index=pool.index)
        groups = pool.assign(_score=score.fillna(-1.0)).groupby(self.config_key(pool), sort=True)
        best = max(groups, key=lambda item: item[1]["_score"].mean())[1]
        return best.drop(columns="_score")

    def config_key(self, trials: pd.DataFrame) -> pd.Series:
        member = (lambda r: [str(r["tuned"])]) if self.members else (lambda r: [])
        return trials.apply(lambda r: " ".join([str(r["arch"]), r["budget"]] + [value_text(r[c]) for c in self.columns]
                                               + member(r)), axis=1)

    def label(self, row) -> str:
        parts = [str(row["arch"]), f"aug={row['augment']}", f"k={row['kernel_size']}"]
        parts += [f"{short(c)}={value_text(row[c])}" for c in self.columns if c not in ("augment", "kernel_size")
                  and c not in self.by_arch and set(value_text(row[c]).split(" / ")) != {"None"}]
        if self.members:                    # which member of its cell's front: its tuned values
            parts += [f"{short(k)}={v:.3g}" if isinstance(v, float) else f"{short(k)}={value_text(v)}"
                      for k, v in json.loads(row["tuned"]).items()]
        return " ".join(parts)

    def board_row(self, arch: str, members: pd.DataFrame) -> dict:
        estimate = self.boot.mean([(k, s) for k, s in zip(members.index, members["seed"])])
        low, high = estimate.interval()
        params = mean_of(members["params"])
        first = members.iloc[0]
        return {"dataset": self.name, "arch": arch, "config": self.label(first), "budget": first["budget"],
                "seeds": int(members["seed"].nunique()), "trials": list(members.index),
                "test_accuracy": float(estimate.point[0]), "ci_low": float(low[0]), "ci_high": float(high[0]),
                "params": params, "train_seconds": mean_of(members["train_seconds"]),
                "accuracy_per_mparam": (float(estimate.point[0]) / (params / 1e6)) if params else None,
                "images_per_second": mean_of(members["images_per_second"]), "estimate": estimate,
                "chance": 1.0 / max(len(self.classes), 1)}

    def rank_classes(self, arch: str, trials: pd.DataFrame, best: pd.DataFrame, findings: dict) -> None:
        """Classes ranked by F1 averaged over every configuration of the architecture (full runs, or
        the largest budget where there are none), each with its gap to the mean class F1 and the
        one-sided p of "no lower than the mean" for both F1 and recall (the larger of the two: weak means
        both are lower; corrected over the report in decide_weak). The test's standard error holds the
        test-set sampling and the trial-to-trial spread of the gaps (over seeds and configurations)."""
        full = trials[trials["budget"] == "full"]
        budget = "full" if len(full) else largest_budget(trials)
        pool = trials[trials["budget"] == budget]
        size = len(self.classes)
        members = [(k, s) for k, s in zip(pool.index, pool["seed"])]
        overall = self.boot.mean(members).point
        # each trial is a unit: the spread of its class gaps over seeds *and* configurations is the
        # noise a one-seed sweep can still measure (a real configuration effect on a class only widens it)
        gaps = self.boot.mean([(k, k) for k in pool.index],
                              transform=lambda v: np.concatenate([_gap(v, 1, size), _gap(v, 1 + size, size)], -1))
        p_f1, p_recall = gaps.p_values(slice(0, size), below=True), gaps.p_values(slice(size, 2 * size), below=True)
        error = gaps.standard_error(slice(0, size))
        top = self.boot.mean([(k, s) for k, s in zip(best.index, best["seed"])]).point
        f1, recall = overall[1:1 + size], overall[1 + size:1 + 2 * size]
        order = np.argsort(f1, kind="stable")
        for rank, index in enumerate(order, start=1):
            findings["class_ranking"].append({
                "dataset": self.name, "arch": arch, "class": self.classes[index], "f1": float(f1[index]),
                "recall": float(recall[index]), "rank": rank, "gap": float(gaps.point[index]),
                "gap_se": float(error[index]), "recall_gap": float(gaps.point[size + index]),
                "p": float(max(p_f1[index], p_recall[index])), "budget": budget,
                "best_config_f1": float(top[1 + index]), "best_config_recall": float(top[1 + size + index]),
                "trials": len(pool), "seeds": int(pool["seed"].nunique()), "classes": size})

    def confusion_test(self, arch: str, members: pd.DataFrame) -> dict:
        """Off-diagonal counts of the best configuration (seeds summed) and each pair's one-sided
        binomial p against the class's errors spread evenly over the other classes."""
        from scipy import stats

        total = sum(self.boot.confusion[k] for k in members.index)
        size = len(total)
        errors = total.sum(axis=1) - np.diagonal(total)
        chance = 1.0 / max(size - 1, 1)
        p = stats.binom.sf(total - 1, errors[:, None], chance) if size > 2 else np.ones_like(total, dtype=float)
        np.fill_diagonal(p, np.nan)
        return {"dataset": self.name, "arch": arch, "classes": self.classes, "counts": total, "errors": errors,
                "chance": chance, "p": p, "budget": members["budget"].iloc[0]}

    def shared_weak(self, findings: dict) -> None:
        weak = defaultdict(set)
        for row in findings["weak_classes"]:
            if row["dataset"] == self.name:
                weak[row["arch"]].add(row["class"])
        archs = sorted(self.trials["arch"].unique())
        if len(archs) > 1:
            shared = set.intersection(*(weak[a] for a in archs))
            budgets = {r["arch"]: r["budget"] for r in findings["class_ranking"] if r["dataset"] == self.name}
            findings["shared_weak_classes"].append({"dataset": self.name, "archs": archs,
                                                    "classes": sorted(shared),
                                                    "by_arch": {a: sorted(weak[a]) for a in archs},
                                                    "budgets": sorted(set(budgets.values()))})

    def cells(self, findings: dict) -> None:
        """Every configuration (all settings but the seed) with its mean test accuracy and costs."""
        keys = self.config_key(self.trials)
        for _, members in self.trials.groupby(keys, sort=True):
            estimate = self.boot.mean([(k, s) for k, s in zip(members.index, members["seed"])])
            low, high = estimate.interval()
            first = members.iloc[0]
            findings["cells"].append({
                "dataset": self.name, "arch": str(first["arch"]), "config": self.label(first),
                "factors": {short(c): value_text(first[c]) for c in self.columns},
                "budget": first["budget"], "seeds": int(members["seed"].nunique()), "trials": len(members),
                "accuracy": float(estimate.point[0]), "ci_low": float(low[0]), "ci_high": float(high[0]),
                "params": mean_of(members["params"]), "train_seconds": mean_of(members["train_seconds"]),
                "images_per_second": mean_of(members["images_per_second"])})


def compute_spent(results: Results) -> dict:
    """Epochs and seconds the sweep spent against running every trial to its planned end."""
    trials = results.trials
    run = trials["epochs_completed"].astype(float)
    planned = trials["train.epochs"].astype(float) if "train.epochs" in trials.columns else run.groupby(
        trials["dataset"]).transform("max")
    seconds = trials["train_seconds"].astype(float)
    per_epoch = float(seconds.sum() / run.sum()) if run.sum() > 0 and seconds.notna().any() else None
    full_grid = float(planned.sum()) if planned.notna().all() else None
    spent = float(run.sum()) if run.notna().all() else None
    saved = (full_grid - spent) if full_grid is not None and spent is not None else None
    return {"trials": int(len(trials)), "stopped_by_asha": int((trials["budget"] != "full").sum()),
            "epochs_run": spent, "epochs_full_grid": full_grid, "epochs_saved": saved,
            "share_of_full_grid": (spent / full_grid) if full_grid else None,
            "seconds_run": float(seconds.sum()) if seconds.notna().any() else None,
            "seconds_saved_estimate": (saved * per_epoch) if saved is not None and per_epoch else None}


def _caveats(context: Dataset, findings: dict) -> None:
    trials, name = context.trials, context.name
    if len(trials) == 1:
        findings["cannot_conclude"].append(f"{name}: a single trial; nothing to compare it with, so no "
                                           f"effects and no winner (run a sweep that varies something)")
    tuned = "stage" in trials.columns and trials["stage"].notna().any()
    if trials["seed"].nunique() == 1:
        fix = "set tune.confirm_seeds: 3" if tuned else "add seeds: 3 to the sweep"
        findings["cannot_conclude"].append(f"{name}: one seed only; intervals reflect the test set's size, "
                                           f"not seed-to-seed variation ({fix})")
    if tuned and (trials["stage"] == "tune").all():
        findings["cannot_conclude"].append(f"{name}: the tuned comparison has not reached its confirm stage; these are "
                                           f"tuning trials, chosen on validation, so their scores are biased up "
                                           f"(continue the sweep with --resume)")
    ran_in = _hardware(trials)
    if len(ran_in) > 1:
        findings["cannot_conclude"].append(f"{name}: trials ran on different hardware or precision ({'; '.join(ran_in)}); "
                                           f"differences between them may come from that, not from the settings")
    if not (trials["budget"] == "full").any():
        findings["cannot_conclude"].append(f"{name}: every trial was stopped by ASHA; comparisons are at the "
                                           f"epochs they reached, not at convergence")


def _hardware(trials: pd.DataFrame) -> list[str]:
    """'N trials: bf16 on NVIDIA A10G, 0.25 GPU' for each distinct device, precision and GPU share."""
    columns = [c for c in ("precision", "device_name", "gpu_share") if c in trials.columns]
    if not columns:
        return []
    groups = trials[columns].astype(str).value_counts()
    named = {"precision": "{}", "device_name": "on {}", "gpu_share": "{} of a GPU"}
    return [f"{n} trial(s) " + " ".join(named[c].format(v) for c, v in zip(columns, key)
                                          if not (c == "gpu_share" and float(v or 0) == 0))
            for key, n in groups.items()]


def _gap(vectors: np.ndarray, start: int, size: int) -> np.ndarray:
    """Each class's value minus the mean over classes, for the block [start, start + size) of metric vectors."""
    block = vectors[..., start:start + size]
    return block - block.mean(axis=-1, keepdims=True)


