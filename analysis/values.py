"""How the report orders and reads the values it finds in the tables: numbers first in numeric order, a
budget's epochs ("full" is the largest), and a value back to a number where it was one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import t_interval


def largest_budget(trials: pd.DataFrame) -> str:
    return max(trials["budget"], key=budget_epochs)


def budget_epochs(budget: str) -> int:
    return 10**9 if budget == "full" else int(budget.split()[1])


def mean_of(series) -> float | None:
    mean, _, _ = t_interval(pd.to_numeric(series, errors="coerce").tolist())
    return None if np.isnan(mean) else mean


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def natural(text: str):
    value = number(text)
    return (0, value, "") if value is not None else (1, 0.0, text)


def typed(text: str):
    """Back to a number where the value was one (kernel 5, not "5")."""
    value = number(text)
    if value is None or text in ("nan", "inf"):
        return text
    return int(value) if value.is_integer() and "." not in text else value
