"""Findings at many classes are tested claims (many_classes.py draws the tables): no weak class or
confused pair named where none was planted, the planted ones found; early-training findings kept
apart; the Pareto front; the first screen of the report."""

from __future__ import annotations

import json
import re

import pytest

import many_classes
import planted
from test_analysis import analysis_cli


def report(run, out) -> tuple[dict, str, str]:
    done = analysis_cli(run, "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "findings.json").read_text()), (out / "report.html").read_text(), done.stdout


@pytest.fixture(scope="module")
def null_100(tmp_path_factory):
    folder = tmp_path_factory.mktemp("null")
    run = many_classes.write_run(folder / "null", classes=100, support=100, seeds=(0,), replicate=3)
    return run, *report(run, folder / "out")


def test_no_weak_class_is_named_when_every_class_is_drawn_alike(null_100):
    run, findings, html, printed = null_100
    assert findings["tested_classes"] == 200 and len(findings["class_ranking"]) == 200
    assert findings["weak_classes"] == [] and findings["shared_weak_classes"][0]["classes"] == []
    assert not [p for p in findings["confused_pairs"] if p["confused"]]
    assert "No class is weak on many with custom_cnn" in printed
    assert not re.search(r"^c\d+ is weak on", printed, re.M) and not re.search(r"c\d+ is weak on", html)
    assert "No class is weak: after the correction for the 200 classes tested" in html
    assert "<h3>Changes that help overall but hurt a class</h3>" not in html
    ranks = sorted(r["rank"] for r in findings["class_ranking"] if r["arch"] == "custom_cnn")
    assert ranks == list(range(1, 101))                       # ranked anyway


def test_suggest_writes_nothing_without_a_tested_weak_class(null_100, tmp_path):
    run = null_100[0]
    done = analysis_cli("suggest", run, "-o", tmp_path / "followup.yaml")
    assert done.returncode == 1 and not (tmp_path / "followup.yaml").exists()
    assert len(done.stderr.strip().splitlines()) == 1 and "no class is weak in null" in done.stderr


def test_a_planted_weak_class_and_pair_are_found_among_100(tmp_path):
    run = many_classes.write_run(tmp_path / "planted", classes=100, support=300, seeds=(0, 1), weak=7,
                                 confused=(7, 9), replicate=1)
    findings, html, printed = report(run, tmp_path / "out")
    assert {(w["arch"], w["class"]) for w in findings["weak_classes"]} == {("custom_cnn", "c007"),
                                                                          ("alexnet_small", "c007")}
    assert findings["shared_weak_classes"][0]["classes"] == ["c007"]
    assert all(w["p_holm"] < 0.05 and w["gap"] < -0.05 and w["rank"] == 1 for w in findings["weak_classes"])
    confused = {(p["arch"], p["true"], p["pred"]) for p in findings["confused_pairs"] if p["confused"]}
    assert confused == {("custom_cnn", "c007", "c009"), ("alexnet_small", "c007", "c009")}
    assert "c007 is weak on many for every architecture" in printed
    # 100-class tables stay readable: weakest five and strongest three per architecture shown, the rest folded
    visible = html.split("<details><summary>the other", 1)[0]
    assert "<details><summary>the other 184 class rows</summary>" in html
    assert visible.count("<td>c007</td>") >= 2


def test_early_training_findings_come_after_full_budget_ones(tmp_path):
    full = planted.write_run(tmp_path / "full", archs=("custom_cnn",))
    early = planted.write_run(tmp_path / "early", archs=("alexnet_small",), status="early_stopped")
    done = analysis_cli(full, early, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()[:-1]
    marked = [i for i, line in enumerate(lines) if line.startswith("Early training")]
    assert marked and min(marked) > 0 and marked == list(range(min(marked), len(marked) + min(marked)))
    assert all("early training" in lines[i] for i in marked)
    assert not any("alexnet_small" in lines[i] and "is weak" in lines[i] for i in range(min(marked)))
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.index("<h2>Summary</h2>") < html.index("<h3>Early training") < html.index("<h2>Leaderboard</h2>")


def test_a_study_stopped_early_everywhere_says_so_in_its_summary(tmp_path):
    early = planted.write_run(tmp_path / "early", seeds=(0,), status="early_stopped")
    done = analysis_cli(early, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = (tmp_path / "out" / "report.md").read_text().split("## Summary", 1)[1].split("\n### ", 1)[0]
    assert "No comparison at the full budget: ASHA stopped the other trials early" in summary, summary
    assert "Nothing to compare" not in summary


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    return report(planted.write_run(folder / "toy"), folder / "out")


def test_pareto_front_of_accuracy_against_params_and_seconds(toy):
    findings, _, _ = toy
    rows = {r["config"]: r for r in findings["pareto"]}
    assert len(rows) == 8 and len(findings["cells"]) == 8
    top, cheap = rows["custom_cnn aug=standard k=5"], rows["alexnet_small aug=standard k=3"]
    assert top["front_params"] and top["front_train_seconds"] and cheap["front_params"]
    assert not cheap["front_train_seconds"]                  # every trial took 20 s: only the most accurate
    others = [r for c, r in rows.items() if c not in (top["config"], cheap["config"])]
    assert all(not r["front_params"] and r["dominated_by_params"] for r in others)
    assert all(r["dominated_by_params"] == top["config"] for r in others if r["arch"] == "custom_cnn")


def test_the_first_screen_is_the_answer_the_study_and_the_cost(toy):
    findings, html, _ = toy
    first = html.split("<h2>", 1)[0]
    answer = re.search(r'<p class="answer">(.*?)</p>', first).group(1)
    assert answer.startswith("On toy the best is custom_cnn aug=standard k=5") and "cat" in answer
    assert 2 <= answer.count(". ") + 1 <= 3
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", first)
    assert len(captions) == 2 and captions[0].startswith("Every configuration on toy")
    assert captions[1].startswith("Accuracy against cost on toy")
