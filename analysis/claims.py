"""The report's tested claims across datasets: which classes are weak (Holm over every class tested), which
pairs are confused more than chance (Holm over every pair), and the accuracy-cost Pareto front."""

from __future__ import annotations

import numpy as np

from analysis.stats import holm
from analysis.values import budget_epochs

ALPHA = 0.05
WEAK_GAP = 0.02
TOP_PAIRS = 3


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
                                                                            key=budget_epochs)
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
