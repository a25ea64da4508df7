"""Factor effects: for each factor a study varies, the matched-pair difference of every other value from the
baseline (overall and per class, with intervals and Holm over the classes of a change), the same factor's
effect compared between architectures, and marginal means per value."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pandas as pd

from analysis.load import value_text
from analysis.stats import Estimate, holm
from analysis.values import budget_epochs, natural, number, typed

if TYPE_CHECKING:
    from analysis.findings import Dataset

EFFECT_GROUPS = {"augment": "augmentation_effects", "kernel_size": "kernel_effects", "arch": "arch_effects"}
EMPTY = ("None", "none", "{}", "[]", "0", "0.0", "False", "()")


def effects(dataset: Dataset, findings: dict) -> None:
    for arch, trials in dataset.trials.groupby("arch", sort=True):
        per_arch = {}
        for factor in dataset.columns:
            key = EFFECT_GROUPS.get(factor, "other_effects")
            entries, estimates = factor_effect(dataset, trials, factor, str(arch))
            findings[key] += entries
            per_arch.update(estimates)
        dataset.estimates[str(arch)] = per_arch
    if dataset.trials["arch"].nunique() > 1:
        entries, _ = factor_effect(dataset, dataset.trials, "arch", None)
        findings["arch_effects"] += entries
    interactions(dataset, findings)

def factor_effect(dataset: Dataset, trials: pd.DataFrame, factor: str, arch: str | None):
    values = sorted(trials[factor].map(value_text).unique(), key=natural)
    if len(values) < 2:
        return [], {}
    baseline = choose_baseline(factor, values)
    match = [c for c in dataset.columns if c != factor] + ["seed", "budget"] + (["arch"] if factor != "arch" else [])
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
        estimate = dataset.boot.paired(pairs)
        estimates[(factor, value, baseline)] = estimate
        budgets = sorted({trials.at[k, "budget"] for k, _, _ in pairs})
        dataset.budgets[(arch, factor, value, baseline)] = budgets
        entries += effect_entries(dataset, estimate, factor, value, baseline, arch, budgets)
    return entries, estimates

def effect_entries(dataset: Dataset, estimate: Estimate, factor: str, value: str, baseline: str, arch: str | None,
                   budgets: list[str]) -> list[dict]:
    low, high = estimate.interval()
    size = len(dataset.classes)
    common = {"dataset": dataset.name, "arch": arch, "factor": factor, "factor_value": typed(value),
              "baseline_value": typed(baseline), "pairs": estimate.units, "seeds": estimate.seeds,
              "budgets": budgets}
    entries = [{**common, "class": None, "delta": float(estimate.point[0]), "ci_low": float(low[0]),
                "ci_high": float(high[0])}]
    corrected = holm(estimate.p_values(slice(1, 1 + size)))      # over the classes of this change
    for c, name in enumerate(dataset.classes):
        f1, rec, prec = 1 + c, 1 + size + c, 1 + 2 * size + c
        entries.append({**common, "class": name, "delta": float(estimate.point[f1]), "ci_low": float(low[f1]),
                        "ci_high": float(high[f1]), "p_holm": float(corrected[c]),
                        "recall_delta": float(estimate.point[rec]),
                        "recall_ci_low": float(low[rec]), "recall_ci_high": float(high[rec]),
                        "precision_delta": float(estimate.point[prec]), "precision_ci_low": float(low[prec]),
                        "precision_ci_high": float(high[prec])})
    return entries

def interactions(dataset: Dataset, findings: dict) -> None:
    """A factor whose effect on accuracy differs between architectures (CI of the difference)."""
    estimates = dataset.estimates
    archs = sorted(estimates)
    for i, first in enumerate(archs):
        for second in archs[i + 1:]:
            for key in sorted(set(estimates[first]) & set(estimates[second])):
                a, b = estimates[first][key], estimates[second][key]
                low, high = (a - b).interval()
                la, ha = a.interval()
                lb, hb = b.interval()
                findings["interactions"].append({
                    "dataset": dataset.name, "factor": key[0], "factor_value": typed(key[1]),
                    "baseline_value": typed(key[2]), "arch_a": first, "arch_b": second,
                    "delta_a": float(a.point[0]), "ci_a": [float(la[0]), float(ha[0])],
                    "delta_b": float(b.point[0]), "ci_b": [float(lb[0]), float(hb[0])],
                    "difference": float(a.point[0] - b.point[0]), "ci_low": float(low[0]),
                    "ci_high": float(high[0]), "matters": bool(low[0] > 0 or high[0] < 0),
                    "budgets": sorted(set(dataset.budgets[(first, *key)]) | set(dataset.budgets[(second, *key)]))})

def marginal_means(dataset: Dataset, findings: dict) -> None:
    """Mean test accuracy per value of each factor (and architecture), at one budget."""
    counts = dataset.trials["budget"].value_counts()
    budget = max(counts.index, key=lambda b: (counts[b], budget_epochs(b)))   # where most trials are
    pool = dataset.trials[dataset.trials["budget"] == budget]
    for factor in ["arch"] + dataset.columns:
        text = pool[factor].map(value_text)
        if text.nunique() < 2:
            continue
        for value in sorted(text.unique(), key=natural):
            members = pool[text == value]
            estimate = dataset.boot.mean([(k, s) for k, s in zip(members.index, members["seed"])])
            low, high = estimate.interval()
            findings["marginal_means"].append({
                "dataset": dataset.name, "factor": factor, "value": typed(value), "budget": budget,
                "trials": len(members), "accuracy": float(estimate.point[0]), "ci_low": float(low[0]),
                "ci_high": float(high[0])})


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
    numbers = [v for v in values if number(v) is not None]
    if numbers:
        return min(numbers, key=number)
    return sorted(values)[0]
