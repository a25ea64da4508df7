"""Findings as plain sentences with numbers: what the report says and the command prints."""

from __future__ import annotations

import json

from analysis.load import short

FACTOR_NAMES = {"augment": "augmentation", "kernel_size": "kernel", "arch": "architecture"}


def named(name: str) -> str:
    """A class name in a sentence: digits read as "class 3"."""
    return f"class {name}" if str(name).isdigit() else str(name)


def ci(low: float, high: float) -> str:
    return f"[{low:+.3f}, {high:+.3f}]"


def signed(entry: dict, key: str = "delta", low: str = "ci_low", high: str = "ci_high") -> str:
    return f"{entry[key]:+.3f} {ci(entry[low], entry[high])}"


def direction(entry: dict, low: str = "ci_low", high: str = "ci_high") -> str:
    """What the 95% interval says: raises (all above 0), lowers (all below), or neither."""
    if entry[low] > 0:
        return "raises"
    if entry[high] < 0:
        return "lowers"
    return "does not clearly change"


def setting(entry: dict) -> str:
    """What a factor value is, in words: "standard augmentation", "oversampling cat x2"."""
    factor, value, baseline = entry["factor"], entry["factor_value"], entry["baseline_value"]
    if factor == "augment":
        return f"{value} augmentation"
    if factor == "kernel_size":
        return f"kernel {value} (vs {baseline})"
    if factor == "arch":
        return f"{value} (vs {baseline})"
    if factor.startswith("augment.class_preset") and " / " in str(value):
        preset, classes = str(value).split(" / ", 1)
        return f"class-targeted {preset} augmentation of {_names(classes)}"
    if factor == "data.oversample" and str(value).startswith("{"):
        weights = json.loads(value)
        return "oversampling " + ", ".join(f"{named(c)} x{w:g}" for c, w in weights.items())
    return f"{short(factor)}={value} (vs {baseline})"


def _names(text: str) -> str:
    try:
        return ", ".join(named(c) for c in json.loads(text))
    except ValueError:
        return text


def budget_note(entry: dict) -> str:
    budgets = entry.get("budgets") or []
    where = "full runs" if budgets == ["full"] else "early training, at " + ", ".join(budgets)
    seeds = entry.get("seeds", 1)
    return f"{entry.get('pairs', 0)} matched pair(s), {seeds} seed{'s' if seeds != 1 else ''}, {where}"


def winner_sentences(findings: dict) -> list[str]:
    out = []
    board = {(r["dataset"], r["arch"]): r for r in findings["leaderboard"]}
    for w in findings["winners"]:
        top, second = board[(w["dataset"], w["winner"])], board[(w["dataset"], w["runner_up"])]
        text = (f"On {w['dataset']}, {w['winner']} wins: test accuracy {top['test_accuracy']:.3f} "
                f"[{top['ci_low']:.3f}, {top['ci_high']:.3f}] vs {w['runner_up']} {second['test_accuracy']:.3f} "
                f"[{second['ci_low']:.3f}, {second['ci_high']:.3f}], a difference of {signed(w)}")
        if all(b != "full" for b in w["budgets"]):
            text += f" (early training: every trial stopped by ASHA, at {', '.join(sorted(set(w['budgets'])))})"
        if not w["equal_budget"]:
            text += (f" (not at equal budgets: {w['winner']} {top['budget']}, {w['runner_up']} "
                     f"{second['budget']}; see the architecture effects for equal-budget pairs)")
        elif w["ci_low"] <= 0:
            text += " (the interval includes 0: no clear winner)"
        out.append(text + ".")
    return out


def untrained_sentences(findings: dict) -> list[str]:
    """Architectures whose best configuration, trained to the full budget, stayed near chance: less than a
    tenth of the way from guessing (1/classes) to every image right. Their class findings say little. (A
    configuration ASHA stopped early was not given the chance: it is not named.)"""
    out = []
    for r in findings["leaderboard"]:
        chance = r.get("chance")
        if r["budget"] == "full" and chance and chance < 1 and (r["test_accuracy"] - chance) / (1 - chance) < 0.1:
            out.append(f"{r['arch']} did not learn on {r['dataset']}: {r['test_accuracy']:.1%} test accuracy, near "
                       f"chance ({chance:.1%} for {round(1 / chance)} classes, full runs); check its learning "
                       f"rate and optimizer or train it longer before reading its weak classes.")
    return out


def weak_sentences(findings: dict) -> list[str]:
    out = []
    ranking = findings["class_ranking"]
    for shared in findings["shared_weak_classes"]:
        for name in shared["classes"]:
            f1s = [f"{r['f1']:.2f}" for a in shared["archs"] for r in ranking
                   if r["dataset"] == shared["dataset"] and r["arch"] == a and r["class"] == name]
            when = (" (early training for some: " + ", ".join(shared["budgets"]) + ")") if is_early(shared) else ""
            out.append(f"{named(name)} is weak on {shared['dataset']} for every architecture{when} "
                       f"({', '.join(shared['archs'])}: F1 {', '.join(f1s)}).")
    for row in findings["weak_classes"]:
        out.append(f"{named(row['class'])} is weak on {row['dataset']} with {row['arch']}{early_note(row)}: F1 "
                   f"{row['f1']:.2f}, {-row['gap']:.2f} below the mean class F1, recall {row['recall']:.2f} (rank "
                   f"{row['rank']} of {row['classes']}, {p_text(row['p_holm'])}; F1 {row['best_config_f1']:.2f} in "
                   f"the best configuration).")
    for pair in findings["confused_pairs"]:
        if pair["confused"] and _is_weak(findings, pair["dataset"], pair["arch"], pair["true"]):
            out.append(f"{pair['rate']:.0%} of {named(pair['true'])} images are predicted as {named(pair['pred'])} "
                       f"({pair['dataset']}, {pair['arch']}; {pair['chance_rate']:.1%} if its errors were spread "
                       f"evenly).")
    return out


def no_weak_sentences(findings: dict) -> list[str]:
    """For each (dataset, architecture) with no weak class: say so, and name the lowest anyway."""
    out = []
    groups: dict = {}
    for row in findings["class_ranking"]:
        groups.setdefault((row["dataset"], row["arch"]), []).append(row)
    for (dataset, arch), rows in groups.items():
        if any(r["weak"] for r in rows):
            continue
        lowest = sorted(rows, key=lambda r: r["rank"])[:3]
        out.append(f"No class is weak on {dataset} with {arch}. The lowest, {named(lowest[0]['class'])} (F1 "
                   f"{lowest[0]['f1']:.2f}), is not called weak because {why_not_weak(lowest[0], findings)} (next: "
                   + ", ".join(f"{named(r['class'])} {r['f1']:.2f}" for r in lowest[1:]) + ").")
    return out


def why_not_weak(row: dict, findings: dict) -> str:
    """The rule a low class missed, in words: the gap, the recall, or the test (few trials, early training)."""
    from analysis.claims import ALPHA, WEAK_GAP

    early = f"; it was compared at {row['budget']} (early training)" if row["budget"] != "full" else ""
    if row["gap"] > -WEAK_GAP:
        return f"its F1 is only {-row['gap']:.3f} below the mean class (weak takes at least {WEAK_GAP}){early}"
    if row["recall_gap"] > -WEAK_GAP:
        return (f"its recall is not {WEAK_GAP} below the mean: its F1 is low because other classes' images are "
                f"predicted as it{early}")
    few = " and one seed" if row.get("seeds", 2) < 2 else ""
    return (f"a shortfall of {-row['gap']:.3f} could be chance with {row['trials']} trial(s){few}: "
            f"p = {row['p_holm']:.2f} after the correction for {findings['tested_classes']} classes, and weak "
            f"takes p < {ALPHA}{early}")


def confused_sentences(findings: dict) -> list[str]:
    out = []
    for pair in findings["confused_pairs"]:
        if pair["confused"]:
            out.append(f"{pair['rate']:.1%} of {named(pair['true'])} images are predicted as {named(pair['pred'])} on "
                       f"{pair['dataset']} with {pair['arch']} ({pair['count']} of {pair['errors']} errors; "
                       f"{pair['chance_rate']:.1%} by chance, {p_text(pair['p_holm'])}).")
    return out


def p_text(p: float) -> str:
    return "Holm-adjusted p < 0.001" if p < 0.001 else f"Holm-adjusted p = {p:.3f}"


def early_note(entry: dict) -> str:
    budget = entry.get("budget")
    return f" (early training: {budget})" if budget and budget != "full" else ""


def is_early(entry: dict) -> bool:
    """A finding about trials that ASHA stopped (compared at the epoch they reached)."""
    budgets = entry.get("budgets") or [entry.get("budget", "full")]
    return any(b != "full" for b in budgets)


def class_effect_sentences(findings: dict) -> list[str]:
    """For each weak class: what augmentation and kernel size do to its F1 and recall."""
    out = []
    for row in findings["weak_classes"]:
        for group in ("augmentation_effects", "kernel_effects", "other_effects"):
            for e in findings[group]:
                if (e["dataset"], e["arch"], e["class"]) == (row["dataset"], row["arch"], row["class"]):
                    out.append(f"{setting(e)} {direction(e)} the F1 of {named(row['class'])} ({row['dataset']}, {row['arch']}): "
                               f"{signed(e)}, recall {signed(e, 'recall_delta', 'recall_ci_low', 'recall_ci_high')} "
                               f"({budget_note(e)}).")
    return out


def tradeoff_sentences(findings: dict) -> list[str]:
    """Changes that help overall accuracy but hurt a class (or the reverse)."""
    out = []
    for group in ("augmentation_effects", "kernel_effects", "arch_effects", "other_effects"):
        overall = {_effect_key(e): e for e in findings[group] if e["class"] is None}
        for e in findings[group]:
            total = overall.get(_effect_key(e))
            if e["class"] is None or total is None:
                continue
            who = f" for {e['arch']}" if e["arch"] else ""
            who += " (early training, at " + ", ".join(e["budgets"]) + ")" if is_early(e) else ""
            clear = e.get("p_holm", 0.0) < 0.05
            if total["ci_low"] > 0 and e["ci_high"] < 0 and clear:
                out.append(f"{setting(e)} helps overall accuracy on {e['dataset']}{who} ({signed(total)}) but "
                           f"lowers the F1 of {named(e['class'])} by {signed(e)} (precision "
                           f"{signed(e, 'precision_delta', 'precision_ci_low', 'precision_ci_high')}, recall "
                           f"{signed(e, 'recall_delta', 'recall_ci_low', 'recall_ci_high')}).")
            elif total["ci_high"] < 0 and e["ci_low"] > 0 and clear:
                out.append(f"{setting(e)} lowers overall accuracy on {e['dataset']}{who} ({signed(total)}) but "
                           f"raises the F1 of {named(e['class'])} by {signed(e)}.")
    return out


def effect_sentences(findings: dict) -> list[str]:
    out = []
    for group in ("arch_effects", "augmentation_effects", "kernel_effects", "other_effects"):
        for e in findings[group]:
            if e["class"] is None:
                who = f" with {e['arch']}" if e["arch"] else ""
                out.append(f"{setting(e)} {direction(e)} test accuracy on {e['dataset']}{who}: {signed(e)} "
                           f"({budget_note(e)}).")
    for i in findings["interactions"]:
        if i["matters"]:
            name = FACTOR_NAMES.get(i["factor"], i["factor"])
            when = (" (early training, at " + ", ".join(i["budgets"]) + ")") if is_early(i) else ""
            out.append(f"The {name} effect differs by architecture on {i['dataset']}{when}: {i['factor_value']} vs "
                       f"{i['baseline_value']} gives {i['delta_a']:+.3f} {ci(*i['ci_a'])} with {i['arch_a']} "
                       f"but {i['delta_b']:+.3f} {ci(*i['ci_b'])} with {i['arch_b']} (difference "
                       f"{i['difference']:+.3f} {ci(i['ci_low'], i['ci_high'])}).")
    return out


def compute_sentences(findings: dict) -> list[str]:
    c = findings["compute"]
    ran_on = [f"Ran on: {'; '.join(findings['hardware'])}."] if findings.get("hardware") else []
    if not c.get("epochs_full_grid"):
        return ran_on
    text = (f"{c['trials']} trials ran {c['epochs_run']:.0f} epochs of the {c['epochs_full_grid']:.0f} a full grid "
            f"would run ({c['share_of_full_grid']:.0%}); {c['stopped_by_asha']} were stopped by ASHA")
    if c.get("seconds_saved_estimate"):
        text += (f"; training took {c['seconds_run']:.0f} s and saved about {c['seconds_saved_estimate']:.0f} s "
                 f"(epochs saved x mean seconds per epoch)")
    return [text + "."] + ran_on


def _effect_key(e: dict):
    return (e["dataset"], e["arch"], e["factor"], e["factor_value"], e["baseline_value"])


def _is_weak(findings: dict, dataset: str, arch: str, name: str) -> bool:
    return any((w["dataset"], w["arch"], w["class"]) == (dataset, arch, name) for w in findings["weak_classes"])
