"""Write report.md, a self-contained report.html (figures as data URIs), figures/*.png and
findings.json into one folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

from analysis import answer as answers
from analysis import findings as rules
from analysis import sentences as say
from analysis import stats
from analysis.figures import draw_all, draw_first
from analysis.findings import analyse
from analysis import interactive as view
from analysis import tuning
from analysis.load import Results, factor_columns
from analysis.render import to_html, to_markdown


LONG = 12          # rows (or items) shown before the rest is folded


def write_report(results: Results, out: Path) -> dict:
    found = analyse(results)
    out.mkdir(parents=True, exist_ok=True)
    first = draw_first(found, out / "figures")
    figures = draw_all(results, found, out / "figures")
    blocks = build_blocks(found, [(caption, path.relative_to(out)) for caption, path in first],
                          [(caption, path.relative_to(out)) for caption, path in figures],
                          interactive_blocks(results, found, out))
    (out / "report.md").write_text(to_markdown(blocks))
    (out / "report.html").write_text(to_html(blocks, out))
    (out / "findings.json").write_text(json.dumps(_clean(found), indent=2))
    return found


def interactive_blocks(results: Results, found: dict, out: Path) -> list[tuple]:
    """Every trial on parallel coordinates, and which settings matter (analysis.interactive)."""
    trials, columns = factor_columns(results.trials)
    varied = view.settings(trials, columns)
    blocks: list[tuple] = []
    if len(trials) > 1 and varied:
        div = view.save(view.parallel_coordinates(trials, varied), out / "figures" / "parallel_coordinates.html")
        blocks += [("h2", "All trials"), ("plotly", div, Path("figures/parallel_coordinates.html"))]
    blocks += front_blocks(found, out)
    for dataset in sorted({r["dataset"] for r in found["importance"]}):
        rows = [r for r in found["importance"] if r["dataset"] == dataset]
        div = view.save(view.importance_figure(rows), out / "figures" / f"importance_{_safe(dataset)}.html")
        blocks += [("h2", f"Which settings matter on {dataset}"), ("list", view.importance_sentences(rows, dataset)),
                   ("plotly", div, Path(f"figures/importance_{_safe(dataset)}.html"))]
    return blocks


def front_blocks(found: dict, out: Path) -> list[tuple]:
    """A multi-objective tuned sweep: per dataset and cost, the front its searches found against the grid's."""
    blocks: list[tuple] = []
    costs = [c for c in found.get("objectives", [])[1:]]
    for dataset in sorted({r["dataset"] for r in found.get("searched_front", [])}):
        searched = [r for r in found["searched_front"] if r["dataset"] == dataset]
        cells = [r for r in found["pareto"] if r["dataset"] == dataset]
        blocks += [("h2", f"Accuracy and cost searched together on {dataset}"),
                   ("list", tuning.front_sentences(searched, cells, costs))]
        for cost in costs:
            name = f"front_{_safe(dataset)}_{cost}.html"
            div = view.save(view.front_figure(searched, cells, cost, dataset), out / "figures" / name)
            blocks.append(("plotly", div, Path(f"figures/{name}")))
        header = ["trial", "cell", "values", "validation accuracy", *costs, "on the front of"]
        rows = [[r["trial"], r["cell"], r["values"], f"{r['accuracy']:.4f}", *(tuning.cost_number(r[c]) for c in costs),
                 "all cells" if r["on_front"] else ("its cell" if r["on_cell_front"] else "-")]
                for r in searched if r["on_cell_front"]]
        blocks += folded(header, rows, "front member(s)", shown=8)
    return blocks


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def build_blocks(found: dict, first: list[tuple[str, Path]], figures: list[tuple[str, Path]],
                 interactive: list[tuple] = ()) -> list[tuple]:
    """First screen: the answer, the whole study, accuracy against cost; then the details."""
    runs = ", ".join(r["name"] for r in found["runs"])
    blocks: list[tuple] = [("h1", f"raycnn report: {runs}")]
    blocks += [("p", f"Question ({r['name']}): {r['question']}") for r in found["runs"] if r.get("question")]
    blocks += [("answer", " ".join(line for line in answers.answer(found) if line))]
    blocks += [("img", caption, path) for caption, path in first]
    if found["left_out"]:
        blocks.append(("p", "Left out (no finished test results): " +
                       ", ".join(f"{n} {s}" for s, n in sorted(found["left_out"].items())) + "."))
    full, early = answers.summary_parts(found, answered=True)
    nothing = ("No comparison at the full budget: ASHA stopped the other trials early, so every comparison is from "
               "early training (next list)." if early else
               "Nothing to compare: one configuration per dataset, or too few finished trials.")
    blocks += [("h2", "Summary"), ("list", full or [nothing])]
    if early:
        blocks += [("h3", "Early training (trials stopped by ASHA, compared at the epoch they reached)"),
                   ("list", early)]
    if found["cannot_conclude"]:
        blocks += [("h2", "What cannot be concluded"), ("list", found["cannot_conclude"])]
    blocks += leaderboard_blocks(found)
    blocks += pareto_blocks(found)
    blocks += list(interactive)
    blocks += effect_blocks(found)
    blocks += weak_blocks(found)
    if found.get("tuning"):
        blocks += [("h2", "Tuning (each cell on its own, then confirmed with fresh seeds)"),
                   *folded_list(tuning.tuning_sentences(found), "cell(s)")]
    blocks += [("h2", "Learning curves and compute"), ("list", say.compute_sentences(found) or ["No epoch table."])]
    blocks += [("h2", "Figures")] + [("img", caption, path) for caption, path in figures]
    blocks += [("h2", "Rules"), ("pre", rules.__doc__.split("Rules (stated in every report):", 1)[1].strip()),
               ("p", "Intervals and tests: " + " ".join(stats.__doc__.split()[1:]))]
    return blocks


def folded(header: list[str], rows: list[list[str]], what: str, shown: int = LONG) -> list[tuple]:
    """A table, its rows past `shown` folded (details/summary)."""
    if len(rows) <= shown + 2:
        return [("table", header, rows)]
    return [("table", header, rows[:shown]),
            ("details", f"{len(rows) - shown} more {what}", [("table", header, rows[shown:])])]


def folded_list(items: list[str], what: str, shown: int = LONG) -> list[tuple]:
    if len(items) <= shown + 2:
        return [("list", items)]
    return [("list", items[:shown]), ("details", f"{len(items) - shown} more {what}", [("list", items[shown:])])]


def pareto_blocks(found: dict) -> list[tuple]:
    rows = found["pareto"]
    if not rows:
        return []
    header = ["dataset", "configuration", "budget", "test accuracy [95% CI]", "params", "train s", "images/s",
              "on the front of"]
    table = []
    for r in sorted(rows, key=lambda r: (r["dataset"], not _on_front(r), -r["accuracy"])):
        fronts = [name for key, name in (("front_params", "params"), ("front_train_seconds", "seconds"),
                                         ("front_images_per_second", "images/s")) if r[key]]
        table.append([r["dataset"], r["config"], r["budget"], f"{r['accuracy']:.4f} [{r['ci_low']:.4f}, "
                      f"{r['ci_high']:.4f}]", _num(r["params"], ",.0f"), _num(r["train_seconds"], ".0f"),
                      _num(r["images_per_second"], ",.0f"),
                      ", ".join(fronts) or f"dominated by {r['dominated_by_params'] or r['dominated_by_train_seconds']}"])
    shown = sum(1 for r in rows if _on_front(r))
    return [("h2", "Accuracy against cost"),
            ("p", "Configurations no other beats on both accuracy (mean test accuracy) and cost; the front first, "
                  "the dominated ones folded."),
            *folded(header, table, "dominated configuration(s)", shown=max(shown, 3))]


def _on_front(row: dict) -> bool:
    return bool(row["front_params"] or row["front_train_seconds"] or row["front_images_per_second"])


def leaderboard_blocks(found: dict) -> list[tuple]:
    header = ["dataset", "arch", "best configuration", "budget", "seeds", "test accuracy [95% CI]", "params",
              "train s", "acc / M params", "images/s"]
    rows = [[r["dataset"], r["arch"], r["config"], r["budget"], str(r["seeds"]),
             f"{r['test_accuracy']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]", _num(r["params"], ",.0f"),
             _num(r["train_seconds"], ".0f"), _num(r["accuracy_per_mparam"], ".3f"), _num(r["images_per_second"], ",.0f")]
            for r in found["leaderboard"]]
    return [("h2", "Leaderboard"), ("p", "Best configuration per (dataset, architecture), chosen by mean "
                                         "validation accuracy; test accuracy of its seeds."),
            *folded(header, rows, "architecture(s)"), ("list", say.winner_sentences(found)[2:])]


def effect_blocks(found: dict) -> list[tuple]:
    header = ["dataset", "factor", "value", "budget", "trials", "test accuracy [95% CI]"]
    means = [[m["dataset"], m["factor"], str(m["value"]), m["budget"], str(m["trials"]),
              f"{m['accuracy']:.4f} [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"] for m in found["marginal_means"]]
    blocks = [("h2", "Factor effects"), ("p", "Marginal means (all trials of one budget per dataset):")]
    blocks += folded(header, means, "value(s)") if means else [("p", "No factor varies at a shared budget.")]
    blocks += [("p", "Matched-pair effects on test accuracy (pairs differ only in the factor):"),
               *folded_list(say.effect_sentences(found) or ["No matched pairs."], "effect(s)")]
    return blocks


def weak_blocks(found: dict) -> list[tuple]:
    weak = say.weak_sentences(found) + say.no_weak_sentences(found)
    blocks = [("h2", "Weak classes"), *folded_list(weak or ["No classes to rank."], "weak class(es)")]
    blocks += [("h3", "What helps the weak classes"),
               *folded_list(say.class_effect_sentences(found) or ["No weak class, or no matched pairs for it."],
                            "change(s)")]
    tradeoffs = say.tradeoff_sentences(found)
    if tradeoffs:
        blocks += [("h3", "Changes that help overall but hurt a class"), *folded_list(tradeoffs, "change(s)")]
    header = ["dataset", "arch", "rank", "class", "F1 (mean)", "vs mean class", "recall (mean)", "F1 (best config)",
              "Holm p", "weak"]
    shown, rest = [], []
    for rows in _by_group(found["class_ranking"]).values():
        size = len(rows)
        for r in rows:
            cells = [r["dataset"], r["arch"], str(r["rank"]), r["class"], f"{r['f1']:.3f}", f"{r['gap']:+.3f}",
                     f"{r['recall']:.3f}", f"{r['best_config_f1']:.3f}", _p(r["p_holm"]), "yes" if r["weak"] else ""]
            keep = size <= 12 or r["rank"] <= 5 or r["rank"] > size - 3 or r["weak"]
            (shown if keep else rest).append(cells)
    blocks += [("h3", "Classes ranked by F1 (mean over configurations): weakest five, strongest three"),
               ("table", header, shown)]
    if rest:
        blocks.append(("details", f"the other {len(rest)} class rows", [("table", header, rest)]))
    confused = say.confused_sentences(found)
    if confused:
        blocks += [("h3", "Pairs confused more than chance"), *folded_list(confused, "pair(s)", shown=6)]
    pairs = [[p["dataset"], p["arch"], p["true"], p["pred"], f"{p['rate']:.1%}", str(p["count"]),
              f"{p['chance_rate']:.1%}", _p(p["p_holm"]), "yes" if p["confused"] else ""]
             for p in found["confused_pairs"]]
    return blocks + [("h3", "Most confused pairs (tested against chance; the top three always listed)"),
                     *folded(["dataset", "arch", "true", "predicted as", "share", "count", "by chance", "Holm p",
                              "confused"], pairs, "pair(s)")]


def _by_group(ranking: list[dict]) -> dict:
    groups: dict = {}
    for row in ranking:
        groups.setdefault((row["dataset"], row["arch"]), []).append(row)
    return {k: sorted(v, key=lambda r: r["rank"]) for k, v in groups.items()}


def _p(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        "<0.001" if value < 0.001 else f"{value:.3f}")


def _num(value, spec: str) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _clean(value):
    """JSON without NaN: NaN and infinities become null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value
