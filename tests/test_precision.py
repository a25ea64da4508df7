"""`precision: auto` on a CPU: decided once per machine and model, before a sweep's trials start, so that
trials running side by side (and slowing each other down) never time fp32 against bf16 themselves."""

from __future__ import annotations

import json
import threading

import pytest

from raycnn import precision
from raycnn.config import run_config_from_dict
from raycnn.sweep.cluster import prepare_node, say_precisions
from raycnn.trial import prepare_trial


def config(cache, **model):
    return run_config_from_dict({"data": {"dataset": "digits", "cache_dir": str(cache)}, "model": model,
                                 "train": {"epochs": 1, "device": "cpu"}})


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch):
    monkeypatch.setattr(precision, "_VERDICTS", {})     # this process has decided nothing yet


def test_prepare_node_times_each_model_once_and_trials_read_its_verdict(tmp_path, monkeypatch):
    configs = [config(tmp_path, kernel_size=3), config(tmp_path, kernel_size=3, dropout=0.3),
               config(tmp_path, kernel_size=5)]
    verdicts = prepare_node(configs)
    assert set(verdicts) == {"digits custom_cnn k3", "digits custom_cnn k5"}
    assert set(verdicts.values()) <= {"fp32", "bf16"}
    stored = json.loads((tmp_path / "precision.json").read_text())
    assert len(stored) == 2 and set(stored.values()) == set(verdicts.values())
    # The node's verdict is what every trial of that model runs in, read, never timed again: turn the
    # stored verdicts round and each trial follows them.
    flipped = {key: "fp32" if value == "bf16" else "bf16" for key, value in stored.items()}
    (tmp_path / "precision.json").write_text(json.dumps(flipped))
    monkeypatch.setattr(precision, "_VERDICTS", {})
    ran = {prepare_trial(c, None, resume=False).precision for c in configs[:2]}
    assert ran == {"fp32" if verdicts["digits custom_cnn k3"] == "bf16" else "bf16"}


def test_models_given_their_precision_explicitly_are_not_timed(tmp_path):
    fixed = run_config_from_dict({"data": {"dataset": "digits", "cache_dir": str(tmp_path)},
                                  "train": {"device": "cpu", "precision": "fp32"}})
    assert prepare_node([fixed]) == {}
    assert not (tmp_path / "precision.json").exists()


def test_a_process_waits_for_the_one_measuring_and_takes_its_verdict(tmp_path):
    import fcntl

    from raycnn.trial import settle_precision

    one = config(tmp_path)
    found = {}
    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / "precision.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                  # another process is measuring this model
        waiting = threading.Thread(target=lambda: found.setdefault("verdict", settle_precision(one)))
        waiting.start()
        waiting.join(timeout=3)
        assert waiting.is_alive(), "settle_precision timed the model while another process held the lock"
        other = {key: "bf16" for key in _keys(one)}          # what the other process decided
        (tmp_path / "precision.json").write_text(json.dumps(other))
    waiting.join(timeout=60)
    assert found == {"verdict": "bf16"}


def _keys(run):
    from raycnn.data import load_dataset
    from raycnn.trial import _build

    dataset = load_dataset(run.data)
    return [precision.verdict_key(_build(run, dataset), dataset.input_shape, run.train.channels_last)]


def test_the_sweep_says_when_models_got_different_precisions(capsys):
    say_precisions({"digits custom_cnn k3": "bf16", "digits alexnet_small k3": "fp32"})
    said = capsys.readouterr().out
    assert "digits alexnet_small k3 fp32, digits custom_cnn k3 bf16" in said and "fixed.train.precision" in said
    say_precisions({"digits custom_cnn k3": "bf16", "digits custom_cnn k5": "bf16"})
    assert capsys.readouterr().out == ""


def test_a_node_without_a_gpu_does_not_time_or_refuse_gpu_trials(tmp_path):
    gpu = run_config_from_dict({"data": {"dataset": "digits", "cache_dir": str(tmp_path)}, "train": {"device": "cuda"}})
    assert prepare_node([gpu]) == {}          # a cluster's head without a GPU checks data for GPU workers


def test_a_model_too_large_for_this_machine_is_left_to_its_trial(tmp_path):
    huge = run_config_from_dict({"data": {"dataset": "digits", "cache_dir": str(tmp_path)},
                                 "model": {"dense_units": [131072, 131072]}, "train": {"device": "cpu"}})
    assert prepare_node([huge]) == {}       # 17 billion weights: never built here; the trial ends as `oom`
