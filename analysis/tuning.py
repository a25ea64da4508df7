"""A tuned comparison in the report: each cell's search (its tuning curve: the best validation accuracy
so far after each tuning trial), and with several objectives (`tune.objectives`) the front the searches
found, with the sentences that say both. Tuning trials are read here only; cells are compared on the
confirm stage (analysis.findings)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.load import Results

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


def scheduler_name(trials: pd.DataFrame) -> str:
    """Who stopped trials early, from their stop_reason: ASHA, or BOHB's HyperBand brackets."""
    reasons = set(trials["stop_reason"].dropna()) if "stop_reason" in trials.columns else set()
    return "BOHB's HyperBand" if "hyperband" in reasons else "ASHA"


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
    return " ".join(f"{k.split('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.', 1)[-1]}={v}"
                    for k, v in json.loads(tuned).items())


def _known(value) -> bool:
    return value is not None and value == value


def _dominates(a: list[float], b: list[float]) -> bool:
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def tuning_sentences(findings: dict) -> list[str]:
    out = []
    for c in findings.get("tuning", []):
        out.append(f"{c['cell']} ({c['dataset']}): {c['trials']} tuning trials "
                   f"({c['stopped_early']} stopped early by {c['stopped_by']}), "
                   f"best validation accuracy {c['best_val_accuracy']:.3f} with {values_text(c['best_values'])}; compared on its "
                   f"confirm trials (fresh seeds) only.")
    return out


def front_sentences(searched: list[dict], cells: list[dict], costs: list[str]) -> list[str]:
    """A multi-objective tuned sweep in words: the front its searches found, and the grid's as confirmed."""
    front = [r for r in searched if r["on_front"]]
    cost_text = lambda r: ", ".join(f"{c} {cost_number(r[c])}" for c in costs if r.get(c) is not None)
    lines = [f"The searches tried {len(searched)} configurations in {len({r['cell'] for r in searched})} cell(s); "
             f"{len(front)} of them no other beats on validation accuracy and {' and '.join(costs)} together (the "
             f"searched front, red): " + "; ".join(f"{r['trial']} ({r['cell']}, {r['values']}): {r['accuracy']:.4f}, "
                                                  f"{cost_text(r)}" for r in front[:6]) + (" ..." if len(front) > 6 else "."),
             "Every tuning trial ran its full budget: early stopping (ASHA) ranks trials on accuracy alone and would "
             "cut a cheap model that learns slower before it reaches the front."]
    for cost in costs:
        on = sorted((c for c in cells if c.get(f"front_{cost}")), key=lambda c: c[cost] or 0)
        if on:
            lines.append(f"The grid's front on {cost} (its cells at the members confirmed with fresh seeds, mean test "
                         f"accuracy, blue): " + "; ".join(f"{c['config']}: {c['accuracy']:.4f} "
                                                         f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}], {cost} {cost_number(c[cost])}"
                                                         for c in on) + ".")
    return lines


def cost_number(value: float) -> str:
    """289,146 parameters or images/s; 12.3 seconds."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
