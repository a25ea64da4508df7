"""What the results say: leaderboard, factor effects, weak classes and what helps them.

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

from collections import defaultdict

import numpy as np
import pandas as pd

from analysis.load import Results, factor_columns, short, value_text
from analysis.stats import Bootstrap, Estimate, holm, t_interval

ALPHA = 0.05
WEAK_GAP = 0.02
TOP_PAIRS = 3
EFFECT_GROUPS = {"augment": "augmentation_effects", "kernel_size": "kernel_effects", "arch": "arch_effects"}
EMPTY = ("None", "none", "{}", "[]", "0", "0.0", "False", "()")


def analyse(results: Results) -> dict:
    boot = Bootstrap(results.confusion)
    boot.prepare(results.trials.index)
    findings: dict = {"runs": results.runs, "left_out": results.left_out, "cannot_conclude": [],
                      "leaderboard": [], "winners": [], "weak_classes": [], "class_ranking": [],
                      "confused_pairs": [], "shared_weak_classes": [], "marginal_means": [],
                      "augmentation_effects": [], "kernel_effects": [], "arch_effects": [], "other_effects": [],
                      "interactions": [], "cells": [], "pareto": []}
    contexts, pairs = [], []
    for dataset, trials in results.trials.groupby("dataset", sort=True):
        names = results.classes.get(dataset) or tuple(str(i) for i in range(len(results.confusion[trials.index[0]])))
        trials, columns = factor_columns(trials)
        context = Dataset(str(dataset), trials, names, boot, columns)
        pairs += context.leaderboard(findings)
        context.effects(findings)
        context.marginal_means(findings)
        context.cells(findings)
        _caveats(context, findings)
        contexts.append(context)
    decide_weak(findings)
    decide_confused(pairs, findings)
    for context in contexts:
        context.shared_weak(findings)
    findings["pareto"] = pareto(findings["cells"])
    findings["tuning"] = tuning_curves(results)
    findings["compute"] = compute_spent(results)
    return findings


def scheduler_name(trials: pd.DataFrame) -> str:
    """Who stopped trials early, from their stop_reason: ASHA, or BOHB's HyperBand brackets."""
    reasons = set(trials["stop_reason"].dropna()) if "stop_reason" in trials.columns else set()
    return "BOHB's HyperBand" if "hyperband" in reasons else "ASHA"


def tuning_curves(results: Results) -> list[dict]:
    """Tuned comparisons: per cell, the best validation accuracy so far after each tuning trial."""
    tuning = results.tuning
    if tuning is None or tuning.empty:
        return []
    out = []
    for cell, trials in tuning.groupby("cell", sort=True):
        trials = trials.sort_values("trial_id")
        scores = pd.to_numeric(trials["best_val_accuracy"], errors="coerce").fillna(-1.0).tolist()
        so_far = list(np.maximum.accumulate(scores)) if scores else []
        best = trials.iloc[int(np.argmax(scores))] if scores else None
        out.append({"dataset": str(trials["dataset"].iloc[0]), "cell": str(cell), "trials": len(trials),
                    "best_so_far": [float(v) if v >= 0 else None for v in so_far],
                    "best_val_accuracy": float(max(scores)) if scores and max(scores) >= 0 else None,
                    "best_values": best["tuned"] if best is not None else None,
                    "stopped_early": int((trials["status"] == "early_stopped").sum()),
                    "stopped_by": scheduler_name(trials)})
    return out


class Dataset:
    def __init__(self, name: str, trials: pd.DataFrame, classes: tuple[str, ...], boot: Bootstrap,
                 columns: list[str]):
        self.name, self.trials, self.classes, self.boot, self.columns = name, trials, classes, boot, columns
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
        pool = full if len(full) else trials[trials["budget"] == _largest_budget(trials)]
        score = pool["best_val_accuracy"].astype(float)
        if score.isna().all():       # no validation column: the test accuracy decides
            score = pd.Series([self.boot.point(k)[0] for k in pool.index], index=pool.index)
        groups = pool.assign(_score=score.fillna(-1.0)).groupby(self.config_key(pool), sort=True)
        best = max(groups, key=lambda item: item[1]["_score"].mean())[1]
        return best.drop(columns="_score")

    def config_key(self, trials: pd.DataFrame) -> pd.Series:
        return trials.apply(lambda r: " ".join([str(r["arch"]), r["budget"]] + [value_text(r[c]) for c in self.columns]),
                            axis=1)

    def label(self, row) -> str:
        parts = [str(row["arch"]), f"aug={row['augment']}", f"k={row['kernel_size']}"]
        parts += [f"{short(c)}={value_text(row[c])}" for c in self.columns if c not in ("augment", "kernel_size")]
        return " ".join(parts)

    def board_row(self, arch: str, members: pd.DataFrame) -> dict:
        estimate = self.boot.mean([(k, s) for k, s in zip(members.index, members["seed"])])
        low, high = estimate.interval()
        params = _mean(members["params"])
        first = members.iloc[0]
        return {"dataset": self.name, "arch": arch, "config": self.label(first), "budget": first["budget"],
                "seeds": int(members["seed"].nunique()), "trials": list(members.index),
                "test_accuracy": float(estimate.point[0]), "ci_low": float(low[0]), "ci_high": float(high[0]),
                "params": params, "train_seconds": _mean(members["train_seconds"]),
                "accuracy_per_mparam": (float(estimate.point[0]) / (params / 1e6)) if params else None,
                "images_per_second": _mean(members["images_per_second"]), "estimate": estimate}

    def rank_classes(self, arch: str, trials: pd.DataFrame, best: pd.DataFrame, findings: dict) -> None:
        """Classes ranked by F1 averaged over every configuration of the architecture (full runs, or
        the largest budget where there are none), each with its gap to the mean class F1 and the
        one-sided p of "no lower than the mean" for both F1 and recall (the larger of the two: weak means
        both are lower; corrected over the report in decide_weak). The test's standard error holds the
        test-set sampling and the trial-to-trial spread of the gaps (over seeds and configurations)."""
        full = trials[trials["budget"] == "full"]
        budget = "full" if len(full) else _largest_budget(trials)
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

    # --- factor effects ---------------------------------------------------------------------------

    def effects(self, findings: dict) -> None:
        for arch, trials in self.trials.groupby("arch", sort=True):
            per_arch = {}
            for factor in self.columns:
                key = EFFECT_GROUPS.get(factor, "other_effects")
                entries, estimates = self.factor_effect(trials, factor, str(arch))
                findings[key] += entries
                per_arch.update(estimates)
            self.estimates[str(arch)] = per_arch
        if self.trials["arch"].nunique() > 1:
            entries, _ = self.factor_effect(self.trials, "arch", None)
            findings["arch_effects"] += entries
        self.interactions(findings)

    def factor_effect(self, trials: pd.DataFrame, factor: str, arch: str | None):
        values = sorted(trials[factor].map(value_text).unique(), key=_natural)
        if len(values) < 2:
            return [], {}
        baseline = choose_baseline(factor, values)
        match = [c for c in self.columns if c != factor] + ["seed", "budget"] + (["arch"] if factor != "arch" else [])
        keys = trials.apply(lambda r: tuple(value_text(r[c]) for c in match), axis=1)
        text = trials[factor].map(value_text)
        base = defaultdict(list)
        for key, match_key in zip(trials.index[text == baseline], keys[text == baseline]):
            base[match_key].append(key)
        entries, estimates = [], {}
        for value in (v for v in values if v != baseline):
            chosen = text == value
            pairs = [(k, b, trials.at[k, "seed"]) for k, m in zip(trials.index[chosen], keys[chosen]) for b in base[m]]
            if not pairs:
                continue
            estimate = self.boot.paired(pairs)
            estimates[(factor, value, baseline)] = estimate
            budgets = sorted({trials.at[k, "budget"] for k, _, _ in pairs})
            self.budgets[(arch, factor, value, baseline)] = budgets
            entries += self.effect_entries(estimate, factor, value, baseline, arch, budgets)
        return entries, estimates

    def effect_entries(self, estimate: Estimate, factor: str, value: str, baseline: str, arch: str | None,
                       budgets: list[str]) -> list[dict]:
        low, high = estimate.interval()
        size = len(self.classes)
        common = {"dataset": self.name, "arch": arch, "factor": factor, "factor_value": _typed(value),
                  "baseline_value": _typed(baseline), "pairs": estimate.units, "seeds": estimate.seeds,
                  "budgets": budgets}
        entries = [{**common, "class": None, "delta": float(estimate.point[0]), "ci_low": float(low[0]),
                    "ci_high": float(high[0])}]
        corrected = holm(estimate.p_values(slice(1, 1 + size)))      # over the classes of this change
        for c, name in enumerate(self.classes):
            f1, rec, prec = 1 + c, 1 + size + c, 1 + 2 * size + c
            entries.append({**common, "class": name, "delta": float(estimate.point[f1]), "ci_low": float(low[f1]),
                            "ci_high": float(high[f1]), "p_holm": float(corrected[c]),
                            "recall_delta": float(estimate.point[rec]),
                            "recall_ci_low": float(low[rec]), "recall_ci_high": float(high[rec]),
                            "precision_delta": float(estimate.point[prec]), "precision_ci_low": float(low[prec]),
                            "precision_ci_high": float(high[prec])})
        return entries

    def interactions(self, findings: dict) -> None:
        """A factor whose effect on accuracy differs between architectures (CI of the difference)."""
        estimates = self.estimates
        archs = sorted(estimates)
        for i, first in enumerate(archs):
            for second in archs[i + 1:]:
                for key in sorted(set(estimates[first]) & set(estimates[second])):
                    a, b = estimates[first][key], estimates[second][key]
                    low, high = (a - b).interval()
                    la, ha = a.interval()
                    lb, hb = b.interval()
                    findings["interactions"].append({
                        "dataset": self.name, "factor": key[0], "factor_value": _typed(key[1]),
                        "baseline_value": _typed(key[2]), "arch_a": first, "arch_b": second,
                        "delta_a": float(a.point[0]), "ci_a": [float(la[0]), float(ha[0])],
                        "delta_b": float(b.point[0]), "ci_b": [float(lb[0]), float(hb[0])],
                        "difference": float(a.point[0] - b.point[0]), "ci_low": float(low[0]),
                        "ci_high": float(high[0]), "matters": bool(low[0] > 0 or high[0] < 0),
                        "budgets": sorted(set(self.budgets[(first, *key)]) | set(self.budgets[(second, *key)]))})

    def marginal_means(self, findings: dict) -> None:
        """Mean test accuracy per value of each factor (and architecture), at one budget."""
        counts = self.trials["budget"].value_counts()
        budget = max(counts.index, key=lambda b: (counts[b], _budget_epochs(b)))   # where most trials are
        pool = self.trials[self.trials["budget"] == budget]
        for factor in ["arch"] + self.columns:
            text = pool[factor].map(value_text)
            if text.nunique() < 2:
                continue
            for value in sorted(text.unique(), key=_natural):
                members = pool[text == value]
                estimate = self.boot.mean([(k, s) for k, s in zip(members.index, members["seed"])])
                low, high = estimate.interval()
                findings["marginal_means"].append({
                    "dataset": self.name, "factor": factor, "value": _typed(value), "budget": budget,
                    "trials": len(members), "accuracy": float(estimate.point[0]), "ci_low": float(low[0]),
                    "ci_high": float(high[0])})


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
                "params": _mean(members["params"]), "train_seconds": _mean(members["train_seconds"]),
                "images_per_second": _mean(members["images_per_second"])})


def decide_weak(findings: dict) -> None:
    """Holm over every class tested in the report; weak = below the mean by WEAK_GAP and passing."""
    ranking = findings["class_ranking"]
    adjusted = holm([r["p"] for r in ranking])
    for row, p in zip(ranking, adjusted):
        row["p_holm"] = float(p)
        row["weak"] = bool(p < ALPHA and row["gap"] <= -WEAK_GAP and row["recall_gap"] <= -WEAK_GAP)
    findings["weak_classes"] = [{k: v for k, v in r.items() if k != "weak"} for r in ranking if r["weak"]]
    findings["tested_classes"] = len(ranking)


def decide_confused(tests: list[dict], findings: dict) -> None:
    """Holm over every off-diagonal pair in the report; keep the passing pairs and each top three."""
    flat = np.concatenate([t["p"][~np.isnan(t["p"])] for t in tests]) if tests else np.array([])
    adjusted = holm(flat)
    start = 0
    for test in tests:
        counts, errors = test["counts"], test["errors"]
        mask = ~np.isnan(test["p"])
        p_holm = np.full(counts.shape, np.nan)
        p_holm[mask] = adjusted[start:start + mask.sum()]
        start += mask.sum()
        rates = counts / np.maximum(counts.sum(axis=1), 1)[:, None]
        np.fill_diagonal(rates, 0.0)
        order = np.dstack(np.unravel_index(np.argsort(-rates, axis=None, kind="stable"), rates.shape))[0]
        names = test["classes"]
        for rank, (true, pred) in enumerate(order):
            confused = bool(p_holm[true, pred] < ALPHA)
            if rates[true, pred] <= 0 or (rank >= TOP_PAIRS and not confused):
                continue
            findings["confused_pairs"].append({
                "dataset": test["dataset"], "arch": test["arch"], "true": names[true], "pred": names[pred],
                "rate": float(rates[true, pred]), "count": int(counts[true, pred]), "errors": int(errors[true]),
                "chance_rate": float(test["chance"] * errors[true] / max(counts[true].sum(), 1)),
                "p_holm": float(p_holm[true, pred]), "confused": confused, "budget": test["budget"]})


def pareto(cells: list[dict]) -> list[dict]:
    """Per dataset, at the full budget (or the largest): each configuration with whether it is on the
    front of accuracy against params, training seconds and images/s, and what dominates it."""
    out = []
    for dataset in sorted({c["dataset"] for c in cells}):
        mine = [c for c in cells if c["dataset"] == dataset]
        budget = "full" if any(c["budget"] == "full" for c in mine) else max((c["budget"] for c in mine),
                                                                            key=_budget_epochs)
        pool = [c for c in mine if c["budget"] == budget]
        for cell in sorted(pool, key=lambda c: -c["accuracy"]):
            row = {k: cell[k] for k in ("dataset", "arch", "config", "budget", "seeds", "accuracy", "ci_low",
                                        "ci_high", "params", "train_seconds", "images_per_second")}
            for cost, lower_is_cheaper in (("params", True), ("train_seconds", True), ("images_per_second", False)):
                better = _dominating(cell, pool, cost, lower_is_cheaper)
                row[f"front_{cost}"] = None if cell[cost] is None else not better
                row[f"dominated_by_{cost}"] = better[0]["config"] if better else None
            out.append(row)
    return out


def _dominating(cell: dict, pool: list[dict], cost: str, lower_is_cheaper: bool) -> list[dict]:
    if cell[cost] is None:
        return []
    sign = 1 if lower_is_cheaper else -1
    found = [o for o in pool if o is not cell and o[cost] is not None and o["accuracy"] >= cell["accuracy"]
             and sign * o[cost] <= sign * cell[cost]
             and (o["accuracy"] > cell["accuracy"] or sign * o[cost] < sign * cell[cost])]
    return sorted(found, key=lambda o: -o["accuracy"])


def choose_baseline(factor: str, values: list[str]) -> str:
    if factor == "augment" and "none" in values:
        return "none"
    if factor == "arch":
        return sorted(values)[0]
    for empty in EMPTY:
        if empty in values:
            return empty
    for value in values:                      # a merged factor ("None / []"): empty in every part
        if " / " in value and all(part in EMPTY for part in value.split(" / ")):
            return value
    numbers = [v for v in values if _number(v) is not None]
    if numbers:
        return min(numbers, key=_number)
    return sorted(values)[0]


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
    if not (trials["budget"] == "full").any():
        findings["cannot_conclude"].append(f"{name}: every trial was stopped by ASHA; comparisons are at the "
                                           f"epochs they reached, not at convergence")


def _gap(vectors: np.ndarray, start: int, size: int) -> np.ndarray:
    """Each class's value minus the mean over classes, for the block [start, start + size) of metric vectors."""
    block = vectors[..., start:start + size]
    return block - block.mean(axis=-1, keepdims=True)


def _largest_budget(trials: pd.DataFrame) -> str:
    return max(trials["budget"], key=_budget_epochs)


def _budget_epochs(budget: str) -> int:
    return 10**9 if budget == "full" else int(budget.split()[1])


def _mean(series) -> float | None:
    mean, _, _ = t_interval(pd.to_numeric(series, errors="coerce").tolist())
    return None if np.isnan(mean) else mean


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _natural(text: str):
    number = _number(text)
    return (0, number, "") if number is not None else (1, 0.0, text)


def _typed(text: str):
    """Back to a number where the value was one (kernel 5, not "5")."""
    number = _number(text)
    if number is None or text in ("nan", "inf"):
        return text
    return int(number) if number.is_integer() and "." not in text else number
