"""Write report.md, a self-contained report.html (figures as data URIs), figures/*.png and
findings.json into one folder."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from analysis import findings as rules
from analysis import sentences as say
from analysis import stats
from analysis.figures import draw_all
from analysis.findings import analyse
from analysis.load import Results


def write_report(results: Results, out: Path) -> dict:
    found = analyse(results)
    out.mkdir(parents=True, exist_ok=True)
    figures = draw_all(results, found, out / "figures")
    blocks = build_blocks(found, [(caption, path.relative_to(out)) for caption, path in figures])
    (out / "report.md").write_text(to_markdown(blocks))
    (out / "report.html").write_text(to_html(blocks, out))
    (out / "findings.json").write_text(json.dumps(_clean(found), indent=2))
    return found


def build_blocks(found: dict, figures: list[tuple[str, Path]]) -> list[tuple]:
    runs = ", ".join(r["name"] for r in found["runs"])
    blocks: list[tuple] = [("h1", f"raycnn report: {runs}")]
    blocks += [("p", f"Question ({r['name']}): {r['question']}") for r in found["runs"] if r.get("question")]
    if found["left_out"]:
        blocks.append(("p", "Left out (no finished test results): " +
                       ", ".join(f"{n} {s}" for s, n in sorted(found["left_out"].items())) + "."))
    blocks += [("h2", "Summary"), ("list", say.summary(found) or ["Nothing to compare: see below."])]
    if found["cannot_conclude"]:
        blocks += [("h2", "What cannot be concluded"), ("list", found["cannot_conclude"])]
    blocks += leaderboard_blocks(found)
    blocks += effect_blocks(found)
    blocks += weak_blocks(found)
    blocks += [("h2", "Learning curves and compute"), ("list", say.compute_sentences(found) or ["No epoch table."])]
    blocks += [("h2", "Figures")] + [("img", caption, path) for caption, path in figures]
    blocks += [("h2", "Rules"), ("pre", rules.__doc__.split("Rules (stated in every report):", 1)[1].strip()),
               ("p", "Intervals: " + " ".join(stats.__doc__.split()[1:]))]
    return blocks


def leaderboard_blocks(found: dict) -> list[tuple]:
    header = ["dataset", "arch", "best configuration", "budget", "seeds", "test accuracy [95% CI]", "params",
              "train s", "acc / M params", "images/s"]
    rows = [[r["dataset"], r["arch"], r["config"], r["budget"], str(r["seeds"]),
             f"{r['test_accuracy']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]", _num(r["params"], ",.0f"),
             _num(r["train_seconds"], ".0f"), _num(r["accuracy_per_mparam"], ".3f"), _num(r["images_per_second"], ",.0f")]
            for r in found["leaderboard"]]
    return [("h2", "Leaderboard"), ("p", "Best configuration per (dataset, architecture), chosen by mean "
                                         "validation accuracy; test accuracy of its seeds."),
            ("table", header, rows), ("list", say.winner_sentences(found))]


def effect_blocks(found: dict) -> list[tuple]:
    header = ["dataset", "factor", "value", "budget", "trials", "test accuracy [95% CI]"]
    means = [[m["dataset"], m["factor"], str(m["value"]), m["budget"], str(m["trials"]),
              f"{m['accuracy']:.4f} [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"] for m in found["marginal_means"]]
    blocks = [("h2", "Factor effects"), ("p", "Marginal means (all trials of one budget per dataset):")]
    blocks += [("table", header, means)] if means else [("p", "No factor varies at a shared budget.")]
    blocks += [("p", "Matched-pair effects on test accuracy (pairs differ only in the factor):"),
               ("list", say.effect_sentences(found) or ["No matched pairs."])]
    return blocks


def weak_blocks(found: dict) -> list[tuple]:
    blocks = [("h2", "Weak classes"), ("list", say.weak_sentences(found) or ["No class stands out as weak."])]
    blocks += [("h3", "What helps the weak classes"),
               ("list", say.class_effect_sentences(found) or ["No matched pairs for the weak classes."])]
    tradeoffs = say.tradeoff_sentences(found)
    if tradeoffs:
        blocks += [("h3", "Changes that help overall but hurt a class"), ("list", tradeoffs)]
    header = ["dataset", "arch", "rank", "class", "F1 (mean)", "recall (mean)", "F1 (best config)", "weak"]
    rows = [[r["dataset"], r["arch"], str(r["rank"]), r["class"], f"{r['f1']:.3f}", f"{r['recall']:.3f}",
             f"{r['best_config_f1']:.3f}", "yes" if r["weak"] else ""] for r in found["class_ranking"] if r["rank"] <= 5]
    pairs = [[p["dataset"], p["arch"], p["true"], p["pred"], f"{p['rate']:.1%}", str(p["count"])]
             for p in found["confused_pairs"]]
    return blocks + [("h3", "Lowest-ranked classes (F1 averaged over configurations)"), ("table", header, rows),
                     ("h3", "Most confused pairs"), ("table", ["dataset", "arch", "true", "predicted as", "share",
                                                             "count"], pairs)]


# --- rendering ---------------------------------------------------------------------------------

def to_markdown(blocks: list[tuple]) -> str:
    out = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "pre":
            out.append("```\n" + block[1] + "\n```")
        elif kind == "table":
            out.append("\n".join(["| " + " | ".join(block[1]) + " |", "|" + "---|" * len(block[1])] +
                                 ["| " + " | ".join(row) + " |" for row in block[2]]))
        elif kind == "img":
            out.append(f"![{block[1]}]({block[2].as_posix()})")
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[tuple], folder: Path) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "pre":
            body.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
        elif kind == "img":
            data = base64.b64encode((folder / block[2]).read_bytes()).decode()
            body.append(f"<figure><img alt=\"{html.escape(block[1])}\" src=\"data:image/png;base64,{data}\">"
                        f"<figcaption>{html.escape(block[1])}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em}"
             "img{max-width:100%}pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>raycnn report</title><style>{style}"
            f"</style></head><body>{''.join(body)}</body></html>\n")


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
