"""The report's interactive views (plotly, embedded in report.html with plotly.js inline: works offline, no
CDN): every trial on parallel coordinates (its settings to test accuracy and cost; drag along an axis to
filter, hover for values), and which settings matter for accuracy, by fANOVA as Optuna computes it
(`optuna.importance.FanovaImportanceEvaluator`: the share of the variance of test accuracy each setting
explains in a random forest fitted to the trials). Each view is also saved as a standalone HTML file and
its data in findings.json."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.load import short, value_text
from analysis.values import natural, number

COSTS = (("test_accuracy", "test accuracy"), ("params", "params"), ("train_seconds", "train seconds"))
MIN_TRIALS_FOR_IMPORTANCE = 6


def settings(trials: pd.DataFrame, columns: list[str]) -> list[str]:
    """The settings that vary among these trials: architecture, dataset, the study's factors."""
    found = [c for c in ("dataset", "arch") if c in trials.columns and trials[c].nunique() > 1]
    return found + [c for c in columns if trials[c].map(value_text).nunique() > 1]


def parallel_coordinates(trials: pd.DataFrame, columns: list[str]):
    import plotly.graph_objects as go

    dimensions = [_dimension(trials[c], short(c)) for c in columns]
    for column, label in COSTS:
        values = pd.to_numeric(trials[column], errors="coerce")
        if values.notna().any():
            dimensions.append({"label": label, "values": values.fillna(values.min()).tolist()})
    accuracy = pd.to_numeric(trials["test_accuracy"], errors="coerce").fillna(0)
    figure = go.Figure(go.Parcoords(line={"color": accuracy.tolist(), "colorscale": "Viridis", "showscale": True,
                                          "colorbar": {"title": "test acc."}}, dimensions=dimensions))
    figure.update_layout(title=f"All {len(trials)} trials: settings to test accuracy and cost (drag an axis to filter)",
                         margin={"l": 60, "r": 40, "t": 110, "b": 30}, height=480, autosize=True)
    return figure


def _dimension(values: pd.Series, label: str) -> dict:
    text = values.map(value_text)
    if all(number(v) is not None for v in text.unique()):
        return {"label": label, "values": [number(v) for v in text]}
    order = sorted(text.unique(), key=natural)
    codes = {v: i for i, v in enumerate(order)}
    return {"label": label, "values": [codes[v] for v in text], "tickvals": list(range(len(order))),
            "ticktext": [v[:18] for v in order]}


def importance(trials: pd.DataFrame, columns: list[str]) -> list[dict]:
    """[{setting, importance}] for test accuracy (fANOVA), most important first; [] with too few trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    usable = trials[pd.to_numeric(trials["test_accuracy"], errors="coerce").notna()]
    if len(usable) < MIN_TRIALS_FOR_IMPORTANCE or not columns:
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    choices = {c: sorted(usable[c].map(value_text).unique(), key=natural) for c in columns}
    distributions = {short(c): CategoricalDistribution(choices[c]) for c in columns}
    for _, row in usable.iterrows():
        study.add_trial(optuna.trial.create_trial(params={short(c): value_text(row[c]) for c in columns},
                                                  distributions=distributions, value=float(row["test_accuracy"])))
    if len(columns) == 1:
        return [{"setting": short(columns[0]), "importance": 1.0}]
    found = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    return [{"setting": name, "importance": float(value)} for name, value in found.items()]


def importance_sentences(rows: list[dict], dataset: str) -> list[str]:
    """What the fANOVA importances say, in words."""
    if len(rows) == 1:
        return [f"Only {rows[0]['setting']} varies among the trials on {dataset}: all of the variance of test accuracy "
                f"that the settings explain is its."]
    parts = ", ".join(f"{r['setting']} {r['importance']:.0%}" for r in rows)
    return [f"Share of the variance of test accuracy on {dataset} that each setting explains (fANOVA over every "
            f"trial, as Optuna computes it; settings that vary together share it): {parts}."]


def importance_figure(rows: list[dict]):
    import plotly.graph_objects as go

    figure = go.Figure(go.Bar(x=[r["importance"] for r in rows][::-1], y=[r["setting"] for r in rows][::-1],
                              orientation="h", hovertemplate="%{y}: %{x:.1%} of the variance<extra></extra>"))
    figure.update_layout(title="Which settings matter for test accuracy (fANOVA)", xaxis_tickformat=".0%",
                         height=120 + 40 * len(rows), margin={"l": 140, "r": 30, "t": 60, "b": 40}, autosize=True)
    return figure


COST_LABELS = {"params": "parameters", "train_seconds": "training seconds", "images_per_second": "training images/s"}


def front_figure(searched: list[dict], cells: list[dict], cost: str, dataset: str):
    """Accuracy against one cost: every tuning trial (validation accuracy, hover for its values), the front
    the searches found, and the grid's front: its cells as confirmed (mean test accuracy, fresh seeds)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, rows, style in (("tuning trials", [r for r in searched if not r["on_front"]], {"color": "#bbbbbb"}),
                              ("searched front (validation)", [r for r in searched if r["on_front"]],
                               {"color": "#d62728", "size": 9})):
        figure.add_trace(go.Scatter(x=[r[cost] for r in rows], y=[r["accuracy"] for r in rows], mode="markers",
                                    name=name, marker=style, text=[f"{r['trial']} {r['cell']}<br>{r['values']}" for r in rows],
                                    hovertemplate="%{text}<br>%{x:,.4g}, val. acc. %{y:.4f}<extra></extra>"))
    line = sorted((r for r in searched if r["on_front"]), key=lambda r: r[cost])
    figure.add_trace(go.Scatter(x=[r[cost] for r in line], y=[r["accuracy"] for r in line], mode="lines",
                                line={"color": "#d62728", "dash": "dot", "shape": "hv"}, showlegend=False, hoverinfo="skip"))
    grid = [c for c in cells if c.get(cost) is not None]
    on = [c for c in grid if c.get(f"front_{cost}")]
    figure.add_trace(go.Scatter(x=[c[cost] for c in grid], y=[c["accuracy"] for c in grid], mode="markers",
                                name="grid's cells, confirmed (test)", text=[c["config"] for c in grid],
                                marker={"color": "#1f77b4", "symbol": "diamond", "size": 10},
                                error_y={"type": "data", "symmetric": False,
                                         "array": [c["ci_high"] - c["accuracy"] for c in grid],
                                         "arrayminus": [c["accuracy"] - c["ci_low"] for c in grid]},
                                hovertemplate="%{text}<br>%{x:,.4g}, test acc. %{y:.4f}<extra></extra>"))
    on = sorted(on, key=lambda c: c[cost])
    figure.add_trace(go.Scatter(x=[c[cost] for c in on], y=[c["accuracy"] for c in on], mode="lines", showlegend=False,
                                line={"color": "#1f77b4", "shape": "hv"}, hoverinfo="skip"))
    label = COST_LABELS.get(cost, cost)
    figure.update_layout(title=f"{dataset}: accuracy against {label}", xaxis_title=label, yaxis_title="accuracy",
                         xaxis_type="log" if _spread([r[cost] for r in searched]) > 10 else "linear", height=460,
                         autosize=True,
                         margin={"l": 60, "r": 30, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.2})
    return figure


def _spread(values: list[float]) -> float:
    """max / min of positive values (a log axis when they span more than a factor of 10)."""
    positive = [v for v in values if v and v > 0]
    return max(positive) / min(positive) if positive else 1.0


def save(figure, path: Path) -> str:
    """Write the figure as a standalone offline HTML file; return the <div> for the report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(str(path), include_plotlyjs=True, full_html=True, config={"responsive": True})
    return figure.to_html(include_plotlyjs=False, full_html=False, config={"responsive": True})


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
