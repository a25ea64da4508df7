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


COST_DIRECTION = {"params": "min", "train_seconds": "min", "images_per_second": "max"}


def searched_fronts(tuning, objectives: list[str]) -> list[dict]:
    """A multi-objective tuned sweep (tune.objectives: [accuracy, cost, ...]): every tuning trial with its
    validation accuracy and costs, whether it is on its cell's front and on the front of all the cells
    of its dataset (what the searches found together)."""
    costs = [c for c in objectives[1:] if c in COST_DIRECTION]
    if tuning is None or tuning.empty or not costs:
        return []
    out = []
    for dataset, trials in tuning.groupby("dataset", sort=True):
        rows = [{"dataset": str(dataset), "cell": str(r["cell"]), "trial": str(r["trial_id"]), "tuned": r["tuned"],
                 "values": values_text(r["tuned"]),
                 "accuracy": float(r["best_val_accuracy"]), **{c: float(r[c]) for c in costs}}
                for _, r in trials.iterrows() if all(_known(r.get(k)) for k in ["best_val_accuracy", *costs])]
        signed = [[r["accuracy"], *(r[c] if COST_DIRECTION[c] == "max" else -r[c] for c in costs)] for r in rows]
        for row, mine in zip(rows, signed):
            same_cell = [o for o, r in zip(signed, rows) if r["cell"] == row["cell"]]
            row["on_cell_front"] = not any(_dominates(o, mine) for o in same_cell)
            row["on_front"] = not any(_dominates(o, mine) for o in signed)
        out += sorted(rows, key=lambda r: (not r["on_front"], -r["accuracy"]))
    return out


def values_text(tuned: str) -> str:
    """'convs_per_block=2 lr=0.00265' from a trial's tuned values (JSON)."""
    import json

    return " ".join(f"{k.split('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.', 1)[-1]}={v}"
                    for k, v in json.loads(tuned).items())


def _known(value) -> bool:
    return value is not None and value == value


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))
