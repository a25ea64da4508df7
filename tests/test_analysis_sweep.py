"""A real digits sweep, its report checked against scikit-learn, and the suggested follow-up run
and merged with it (slow: starts Ray twice). Class 3 is made weak for real: it is undersampled
(5% of its training images per epoch), so the report's weak-class test has something to find."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import precision_recall_fscore_support

from test_analysis import analysis_cli
from test_sweep_ray import finish, start_sweep, write_sweep

pytestmark = pytest.mark.slow


def labels_from_confusion(rows: list[dict], trial_id: str) -> tuple[np.ndarray, np.ndarray]:
    cells = [(r["true_class"], r["pred_class"], r["count"]) for r in rows if r["trial_id"] == trial_id]
    true = np.concatenate([np.full(n, t) for t, _, n in cells])
    pred = np.concatenate([np.full(n, p) for _, p, n in cells])
    return true, pred


def test_digits_sweep_report_matches_sklearn_and_its_follow_up_targets_the_weak_classes(tmp_path):
    sweep = write_sweep(tmp_path / "base.yaml", """
fixed: {data: {dataset: digits, oversample: {"3": 0.05}}, model: {arch: custom_cnn, dropout: 0.25, filters: [16, 32]},
        train: {epochs: 8, batch_size: 64, lr: 0.002, optimizer: adam, weight_decay: 0, schedule: constant,
                label_smoothing: 0, ema_decay: null}}
space: {augment.preset: [none, flip_crop]}
scheduler: {kind: fifo}
max_concurrent: 1
""")
    code, _, err = finish(start_sweep(str(sweep), "--storage", str(tmp_path / "runs")))
    assert code == 0, err[-3000:]
    run = tmp_path / "runs" / "test"
    done = analysis_cli(run)
    assert done.returncode == 0, done.stderr[-3000:]
    findings = json.loads((run / "report" / "findings.json").read_text())
    confusion = pq.read_table(run / "results" / "confusion.parquet").to_pylist()
    classes = pq.read_table(run / "results" / "classes.parquet").to_pylist()
    (best,) = findings["leaderboard"]
    trial_id = best["trials"][0].split("/")[1]
    true, pred = labels_from_confusion(confusion, trial_id)
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=range(10), zero_division=0)
    ranked = {r["class"]: r for r in findings["class_ranking"]}
    for index, name in enumerate("0123456789"):
        assert ranked[name]["best_config_f1"] == pytest.approx(f1[index])
        row = next(r for r in classes if r["trial_id"] == trial_id and r["class_name"] == name)
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[index], recall[index], f1[index], support[index]))
    assert best["test_accuracy"] == pytest.approx((true == pred).mean())
    assert [w["class"] for w in findings["weak_classes"]] == ["3"]      # the starved class, and only it

    followup = tmp_path / "followup.yaml"
    assert analysis_cli("suggest", run, "-o", followup).returncode == 0
    targets = next(v["augment"]["classes"] for v in yaml.safe_load(followup.read_text())["variants"]
                   if v["augment"].get("classes"))
    assert targets == ["3"]
    code, _, err = finish(start_sweep(str(followup), "--storage", str(tmp_path / "runs")))
    assert code == 0, err[-3000:]
    merged = analysis_cli(run, tmp_path / "runs" / "test-followup", "--out", tmp_path / "merged")
    assert merged.returncode == 0, merged.stderr[-3000:]
    findings = json.loads((tmp_path / "merged" / "findings.json").read_text())
    factors = {e["factor"] for e in findings["other_effects"]}
    assert factors == {"augment.class_preset+augment.classes", "data.oversample"}
    for name in targets:                     # the per-class change of each targeted class, with a CI
        changes = [e for e in findings["other_effects"] if e["class"] == name]
        assert len(changes) == 2 and all(e["ci_low"] <= e["delta"] <= e["ci_high"] for e in changes)
        assert any(e["budgets"] == ["full"] and e["pairs"] >= 1 for e in changes)
    first_screen = (tmp_path / "merged" / "report.md").read_text().split("## Summary")[0]
    assert first_screen.count("Follow-up: ") == 2 and "the F1 of class 3" in first_screen   # on the first screen
