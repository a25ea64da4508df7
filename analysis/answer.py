"""The answer to a sweep: the two or three sentences at the top of the report, and the summary the command
prints (full-budget findings first), built from the per-kind sentences in analysis.sentences."""

from __future__ import annotations

from analysis.sentences import (class_effect_sentences, direction, effect_sentences, is_early, named,
                                no_weak_sentences, setting, signed, tradeoff_sentences, untrained_sentences,
                                weak_sentences, winner_sentences)


def summary(findings: dict) -> list[str]:
    """The few lines the command prints: full-budget findings first, then early-training ones."""
    full, early = summary_parts(findings)
    return full + [f"Early training (trials stopped by ASHA): {line}" for line in early]


def summary_parts(findings: dict, answered: bool = False) -> tuple[list[str], list[str]]:
    """(full-budget lines, early-training lines) of the summary; `answered`: without what the report's answer
    already said (the first two datasets' winners; one line per class weak for every architecture)."""
    lines = ([] if answered else untrained_sentences(findings)) + winner_sentences(findings)[2 if answered else 0:]
    weak = [s for s in weak_sentences(findings) if " is weak on " in s]
    if answered:
        shared = {(d["dataset"], c) for d in findings["shared_weak_classes"] for c in d["classes"]}
        weak = [s for s in weak if not any(s.startswith(f"{named(c)} is weak on {d} with ") for d, c in shared)]
    lines += weak[:6] or no_weak_sentences(findings)[:2]
    lines += [c for c in class_effect_sentences(findings) if " does not clearly " not in c][:4]
    lines += tradeoff_sentences(findings)[:4]
    lines += [i for i in effect_sentences(findings) if i.startswith("The ")][:3]
    return [line for line in lines if "early training" not in line], [line for line in lines if "early training" in line]


def answer(findings: dict) -> list[str]:
    """Two or three sentences that answer the sweep: the best configuration, the clearest effect,
    the weak classes (full-budget findings where there are any)."""
    out = []
    board = {(r["dataset"], r["arch"]): r for r in findings["leaderboard"]}
    for w in findings["winners"][:2]:
        top, second = board[(w["dataset"], w["winner"])], board[(w["dataset"], w["runner_up"])]
        if not w["equal_budget"]:
            verdict = (f"ahead of {second['arch']} ({second['test_accuracy']:.1%}), but {second['arch']} was "
                       f"compared at {second['budget']} (stopped by ASHA), not at an equal budget")
        else:
            verdict = (f"{'clearly' if w['ci_low'] > 0 else 'not clearly'} ahead of {second['arch']} "
                       f"({second['test_accuracy']:.1%}; difference {signed(w)})")
        out.append(f"On {w['dataset']} the best is {top['config']} ({top['test_accuracy']:.1%} test accuracy, "
                   f"{top['budget']}), {verdict}.")
    if not findings["winners"]:
        for top in findings["leaderboard"][:2]:
            out.append(f"On {top['dataset']} {top['config']} reaches {top['test_accuracy']:.1%} test accuracy "
                       f"[{top['ci_low']:.1%}, {top['ci_high']:.1%}].")
    out += untrained_sentences(findings)
    effects = [e for group in ("arch_effects", "augmentation_effects", "kernel_effects", "other_effects")
               for e in findings[group] if e["class"] is None and not is_early(e) and e["factor"] != "arch"
               and (e["ci_low"] > 0 or e["ci_high"] < 0)]
    if effects:
        e = max(effects, key=lambda e: abs(e["delta"]))
        who = f" with {e['arch']}" if e["arch"] else ""
        out.append(f"The clearest effect: {setting(e)} {direction(e)} test accuracy{who} by {signed(e)}"
                   f"{f' ({len(effects) - 1} other clear effect(s) below)' if len(effects) > 1 else ''}.")
    elif any(e["class"] is None for g in ("augmentation_effects", "kernel_effects", "other_effects") for e in findings[g]):
        out.append("No factor clearly changes test accuracy at the full budget.")
    out.append(_weak_answer(findings))
    out += followup_answer(findings)
    return out


def followup_answer(findings: dict) -> list[str]:
    """A study and its follow-up (`analysis suggest`) read together: what each targeted change did to the F1
    of the classes it targeted, with its interval (the first screen of the merged report)."""
    out = []
    for e in findings["other_effects"]:
        targeted = ("class_preset" in e["factor"] or e["factor"] == "data.oversample") and e["class"] is not None
        if targeted and f'"{e["class"]}"' in str(e["factor_value"]):      # the class is named in the change
            out.append(f"Follow-up: {setting(e)} {direction(e).replace('raises', 'raised').replace('lowers', 'lowered')} "
                       f"the F1 of {named(e['class'])} ({e['dataset']}, {e['arch']}) by {signed(e)} over {e['pairs']} "
                       f"matched pair(s).")
    return out[:4]


def _weak_answer(findings: dict) -> str:
    if not findings["class_ranking"]:
        return ""
    shared = [(s["dataset"], c) for s in findings["shared_weak_classes"] for c in s["classes"]]
    if shared:
        return "Weak for every architecture: " + ", ".join(f"{named(c)} ({d})" for d, c in shared) + "."
    weak = sorted({(w["dataset"], w["class"]) for w in findings["weak_classes"]})
    if weak:
        return "Weak classes: " + ", ".join(f"{named(c)} ({d})" for d, c in weak[:8]) + \
            (f" and {len(weak) - 8} more" if len(weak) > 8 else "") + "."
    return (f"No class is weak: after the correction for the {findings['tested_classes']} classes tested, none "
            f"is below the others by more than chance.")
