"""The analysis report on tables with planted findings (see planted.py), and its bad inputs."""

from __future__ import annotations

import json
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from cli_process import run_cli
from planted import CLASSES, write_run


def analysis_cli(*args) -> subprocess.CompletedProcess:
    """`python -m analysis ARGS` through the test worker's one CLI process (tests/cli_process.py): its output
    without the process's Ray line (the shipped sweep's end-to-end test runs `python -m analysis` as a process of
    its own, and checks there that it imports nothing of raycnn)."""
    done = run_cli("analysis.__main__", *args)
    done.stdout = done.stdout[:done.stdout.rstrip("\n").rfind("\n") + 1]       # its last line is the Ray line
    return done


def report(tmp_path, **planted) -> tuple[dict, str, str]:
    run = write_run(tmp_path / "toy", **planted)
    done = analysis_cli(run, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    return findings, (tmp_path / "out" / "report.md").read_text(), done.stdout


def effect(findings, group, arch, name, value):
    (found,) = [e for e in findings[group] if (e["arch"], e["class"], e["factor_value"]) == (arch, name, value)]
    return found


def excludes_zero(entry, sign):
    return entry["ci_low"] > 0 if sign > 0 else entry["ci_high"] < 0


def includes_zero(entry):
    return entry["ci_low"] <= 0 <= entry["ci_high"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return report(tmp_path_factory.mktemp("planted"))


def test_the_planted_weak_class_and_confused_pair_are_found(planted):
    findings, text, printed = planted
    assert {(w["arch"], w["class"]) for w in findings["weak_classes"]} == {("custom_cnn", "cat"), ("alexnet_small", "cat")}
    assert all(w["rank"] == 1 for w in findings["weak_classes"])
    assert findings["shared_weak_classes"][0]["classes"] == ["cat"]
    for arch in ("custom_cnn", "alexnet_small"):
        top = max((p for p in findings["confused_pairs"] if p["arch"] == arch), key=lambda p: p["rate"])
        assert (top["true"], top["pred"]) == ("cat", "dog") and 0.1 < top["rate"] < 0.45
    assert "cat is weak on toy for every architecture" in text and "cat is weak on toy" in printed
    assert "of cat images are predicted as dog" in text


def test_augmentation_helps_cat_hurts_frog_and_leaves_airplane(planted):
    findings, text, _ = planted
    for arch in ("custom_cnn", "alexnet_small"):
        assert excludes_zero(effect(findings, "augmentation_effects", arch, "cat", "standard"), +1)
        assert effect(findings, "augmentation_effects", arch, "cat", "standard")["recall_ci_low"] > 0.15
        assert excludes_zero(effect(findings, "augmentation_effects", arch, "frog", "standard"), -1)
        assert includes_zero(effect(findings, "augmentation_effects", arch, "airplane", "standard"))
        overall = effect(findings, "augmentation_effects", arch, None, "standard")
        assert excludes_zero(overall, +1) and overall["baseline_value"] == "none"
        assert overall["seeds"] == 3 and overall["pairs"] == 6 and overall["budgets"] == ["full"]
    assert "standard augmentation raises the F1 of cat" in text
    assert "helps overall accuracy on toy for custom_cnn" in text and "lowers the F1 of frog" in text


def test_the_kernel_effect_differs_by_architecture(planted):
    findings, text, _ = planted
    assert excludes_zero(effect(findings, "kernel_effects", "custom_cnn", None, 5), +1)
    assert excludes_zero(effect(findings, "kernel_effects", "alexnet_small", None, 5), -1)
    (kernel,) = [i for i in findings["interactions"] if i["factor"] == "kernel_size"]
    (augment,) = [i for i in findings["interactions"] if i["factor"] == "augment"]
    assert kernel["matters"] and not augment["matters"]      # augmentation acts alike on both
    assert "The kernel effect differs by architecture on toy" in text


def test_leaderboard_and_per_class_numbers_match_the_tables(planted, tmp_path):
    findings, text, _ = planted
    board = {r["arch"]: r for r in findings["leaderboard"]}
    assert board["custom_cnn"]["config"] == "custom_cnn aug=standard k=5" and board["custom_cnn"]["seeds"] == 3
    assert board["custom_cnn"]["ci_low"] < board["custom_cnn"]["test_accuracy"] < board["custom_cnn"]["ci_high"]
    assert board["alexnet_small"]["config"] == "alexnet_small aug=standard k=3"
    assert findings["winners"][0]["winner"] == "custom_cnn" and findings["winners"][0]["ci_low"] > 0
    assert board["custom_cnn"]["accuracy_per_mparam"] == pytest.approx(board["custom_cnn"]["test_accuracy"])
    assert findings["compute"]["epochs_run"] == findings["compute"]["epochs_full_grid"] == 240
    assert "## Leaderboard" in text and "## Rules" in text
    run = tmp_path / "again"
    write_run(run)
    rows = pq.read_table(run / "results" / "classes.parquet").to_pylist()
    best = {t.split("/")[1] for t in board["custom_cnn"]["trials"]}
    for ranked in (r for r in findings["class_ranking"] if r["arch"] == "custom_cnn"):
        mine = [r["f1"] for r in rows if r["trial_id"] in best and r["class_name"] == ranked["class"]]
        assert ranked["best_config_f1"] == pytest.approx(sum(mine) / len(mine))


def test_one_seed_still_finds_real_effects_from_the_support_counts(tmp_path):
    findings, text, printed = report(tmp_path, seeds=(0,))
    for arch in ("custom_cnn", "alexnet_small"):
        assert excludes_zero(effect(findings, "augmentation_effects", arch, "cat", "standard"), +1)
        assert includes_zero(effect(findings, "augmentation_effects", arch, "airplane", "standard"))
    assert "one seed only" in text and "one seed only" in printed


def test_no_effect_planted_gives_intervals_around_zero(tmp_path):
    findings, _, _ = report(tmp_path, plan={"aug_cat": 0.0, "aug_frog": 0.0})
    for arch in ("custom_cnn", "alexnet_small"):
        for name in (None,) + CLASSES:
            assert includes_zero(effect(findings, "augmentation_effects", arch, name, "standard")), (arch, name)


def test_report_html_is_self_contained(planted, tmp_path_factory):
    out = next(p for p in tmp_path_factory.getbasetemp().glob("planted*/out"))
    html = (out / "report.html").read_text()
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["confusion-toy-alexnet_small.png", "confusion-toy-custom_cnn.png", "effects-toy.png",
                       "f1-heatmap-toy.png", "learning-curves-toy.png", "pareto-toy.png", "study-toy.png"]
    assert html.count('<figure><img alt="') == len(figures)                    # every figure embedded
    assert "<script src=" not in html and "<link" not in html and 'src="figures' not in html   # nothing fetched
    assert html.count("<script>") == 1 + html.count('<div class="plotly">')      # plotly.js once, inline
    assert '"type":"parcoords"' in html and (out / "figures" / "parallel_coordinates.html").exists()
    findings = json.loads((out / "findings.json").read_text())
    assert {r["setting"] for r in findings["importance"]} >= {"augment"}


def test_several_runs_are_merged(tmp_path):
    first = write_run(tmp_path / "first", augments=("none",))
    second = write_run(tmp_path / "second", augments=("standard",))
    done = analysis_cli(first, second, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert [r["name"] for r in findings["runs"]] == ["first", "second"]
    assert excludes_zero(effect(findings, "augmentation_effects", "custom_cnn", "cat", "standard"), +1)


def test_suggest_writes_a_follow_up_that_targets_the_weak_class(planted, tmp_path):
    run = write_run(tmp_path / "toy")
    done = analysis_cli("suggest", run, "-o", tmp_path / "followup.yaml")
    assert done.returncode == 0, done.stderr
    sweep = yaml.safe_load((tmp_path / "followup.yaml").read_text())
    assert sweep["name"] == "toy-followup" and sweep["seeds"] == 3 and len(sweep["variants"]) == 8
    targeted = [v for v in sweep["variants"] if v["augment"].get("classes")]
    assert targeted and all(v["augment"]["classes"] == ["cat"] for v in targeted)
    assert any(v["data"].get("oversample") == {"cat": 2.0} for v in sweep["variants"])


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nowhere", "no such folder"),
    (lambda p: p, "not a run folder"),
    (lambda p: _damaged(p, "confusion", None), "confusion.parquet is missing"),
    (lambda p: _damaged(p, "trials", b"not parquet"), "cannot be read"),
    (lambda p: write_run(p / "toy", status="error"), "no finished trial"),
    (lambda p: "s3://bucket/runs/kernels", "reads a local folder; copy the run's results/"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, message):
    done = analysis_cli(make(tmp_path))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_single_trial_says_what_cannot_be_concluded(tmp_path):
    findings, text, _ = report(tmp_path, archs=("custom_cnn",), augments=("none",), kernels=(3,), seeds=(0,))
    assert "a single trial" in text and findings["augmentation_effects"] == [] and findings["winners"] == []
    assert len(findings["leaderboard"]) == 1


def test_an_architecture_that_never_learned_is_named_near_chance(tmp_path, planted):
    findings, text, printed = report(tmp_path, augments=("none",), kernels=(3,), seeds=(0, 1),
                                     plan={"guessing": "alexnet_small"})
    answer = text.split("\n\n")[1]             # the bold answer under the title
    for where in (answer, printed):
        assert "alexnet_small did not learn on toy: 21.9% test accuracy, near chance (20.0% for 5 classes" in where, where
        assert "custom_cnn did not learn" not in where
    assert "did not learn" not in planted[1] + planted[2]      # both architectures learned there
    _, text, printed = report(tmp_path / "early", augments=("none",), kernels=(3,), seeds=(0, 1),
                              plan={"guessing": "alexnet_small"}, status="early_stopped")
    assert "did not learn" not in text + printed                # stopped early by ASHA: not given the chance
    assert "(one stopped by ASHA is marked with the epoch it reached)" in text     # the study figure's caption
    assert "Every configuration on toy" in planted[1] and "(one stopped by ASHA" not in planted[1]   # none was


def test_image_folders_are_named_by_their_folder_and_two_folders_are_two_datasets(tmp_path):
    run = write_run(tmp_path / "toy", augments=("none",), kernels=(3,), seeds=(0, 1))
    trials = pq.read_table(run / "results" / "trials.parquet").to_pandas()
    trials["dataset"] = "imagefolder"
    trials["data.data_path"] = ["/photos/flowers17" if i % 2 else "/photos/birds" for i in range(len(trials))]
    pq.write_table(pa.Table.from_pandas(trials, preserve_index=False), run / "results" / "trials.parquet")
    done = analysis_cli(run, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert {r["dataset"] for r in findings["leaderboard"]} == {"flowers17", "birds"}
    assert "imagefolder" not in (tmp_path / "out" / "report.md").read_text()


def _damaged(folder, table, content):
    run = write_run(folder / "toy")
    path = run / "results" / f"{table}.parquet"
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    return run


def test_tables_without_optional_columns_still_report(tmp_path):
    run = write_run(tmp_path / "toy")
    trials = pq.read_table(run / "results" / "trials.parquet")
    keep = ["trial_id", "status", "arch", "dataset", "augment", "kernel_size", "seed"]
    pq.write_table(pa.table({c: trials[c] for c in keep}), run / "results" / "trials.parquet")
    done = analysis_cli(run, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert {w["class"] for w in findings["weak_classes"]} == {"cat"}


def test_without_epochs_and_classes_tables_the_report_still_runs(tmp_path):
    run = write_run(tmp_path / "toy")
    (run / "results" / "epochs.parquet").unlink()
    (run / "results" / "classes.parquet").unlink()
    done = analysis_cli(run, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert {w["class"] for w in findings["weak_classes"]} == {"2"}          # cat, as class number 2
    assert not (tmp_path / "out" / "figures" / "learning-curves-toy.png").exists()


def test_few_seeds_widen_the_interval_to_the_t_interval():
    import numpy as np
    from scipy import stats as scipy_stats

    from analysis.stats import Bootstrap

    def matrix(right: int) -> np.ndarray:           # two classes, 1,000 images each
        return np.array([[right, 1000 - right], [100, 900]])

    confusion = {"b0": matrix(800), "b1": matrix(800), "b2": matrix(800),
                 "a0": matrix(850), "a1": matrix(800), "a2": matrix(900)}   # per-seed recall change .05, 0, .1
    estimate = Bootstrap(confusion).paired([("a0", "b0", 0), ("a1", "b1", 1), ("a2", "b2", 2)])
    low, high = estimate.interval()
    deltas = np.array([0.05, 0.0, 0.10])                                    # recall of class 0, per seed
    half = scipy_stats.t.ppf(0.975, 2) * deltas.std(ddof=1) / np.sqrt(3)
    recall = 1 + 2                                                          # [accuracy, f1 x2, recall x2, ...]
    assert estimate.point[recall] == pytest.approx(0.05)
    assert low[recall] <= 0.05 - half + 1e-9 and high[recall] >= 0.05 + half - 1e-9
    assert low[recall] < 0 < high[recall]          # three seeds this far apart: no clear effect


def test_a_variants_own_options_are_not_spelled_out_beside_its_architecture(tmp_path):
    """As in sample25.yaml: custom_cnn with its own filters, alexnet_small with its defaults. The arch's
    name already tells them apart, so the labels leave them out (they read `batch_norm+...+filters=False /
    ... / [64, 128]` before); a setting that varies within an arch (dropout here) is still named."""
    run = write_run(tmp_path / "toy")
    path = run / "results" / "trials.parquet"
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        custom = row["arch"] == "custom_cnn"
        row["model.filters"] = "[64, 128]" if custom else None
        row["model.dropout"] = (0.25 if row["kernel_size"] == 3 else 0.4) if custom else 0.5
    pq.write_table(pa.Table.from_pylist(rows), path)
    done = analysis_cli(run, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    board = {r["arch"]: r["config"] for r in json.loads((tmp_path / "out" / "findings.json").read_text())["leaderboard"]}
    assert board == {"custom_cnn": "custom_cnn aug=standard k=5 dropout=0.4",
                     "alexnet_small": "alexnet_small aug=standard k=3 dropout=0.5"}
