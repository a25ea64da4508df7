"""The GPU decisions, each isolated so it is tested on a machine without a GPU: precision per compute
capability, memory caps and data placement from a trial's share, determinism, dropout alike on every device."""

from __future__ import annotations

import pytest
import torch

from raycnn import gpu
from raycnn.precision import gpu_precision

GB = 1 << 30


@pytest.mark.parametrize("capability,precision", [
    ((6, 0), "fp32"), ((6, 1), "fp32"),               # Pascal: no tensor cores
    ((7, 0), "fp16"), ((7, 5), "fp16"),               # V100, T4: fp16 tensor cores, bf16 only emulated
    ((8, 0), "bf16"), ((8, 6), "bf16"), ((8, 9), "bf16"), ((9, 0), "bf16"), ((10, 0), "bf16")])
def test_precision_is_what_the_gpu_does_natively(capability, precision):
    assert gpu_precision(capability) == precision


def test_bf16_asked_for_on_a_cpu_is_allowed_and_fp16_refused():
    from raycnn.errors import ConfigError
    from raycnn.precision import check_requested

    check_requested("bf16", torch.device("cpu"))
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        check_requested("fp16", torch.device("cpu"))


@pytest.mark.parametrize("share,total,cap", [
    (1.0, 24 * GB, None), (0.0, 24 * GB, None),                   # a whole GPU (or none): no cap
    (0.25, 24 * GB, 0.25 - (600 << 20) / (24 * GB)),               # the share less the CUDA context
    (0.5, 80 * GB, 0.5 - (600 << 20) / (80 * GB)),
    (0.05, 8 * GB, gpu.MIN_CAP)])                                   # never below a minimum
def test_memory_cap_is_the_share_less_the_context(share, total, cap):
    assert gpu.memory_cap(share, total) == pytest.approx(cap) if cap is not None else gpu.memory_cap(share, total) is None


def test_four_quarter_trials_fit_the_gpu_together():
    total = 24 * GB
    assert 4 * (gpu.trial_memory(0.25, total) + gpu.CONTEXT_BYTES) <= total


def test_data_goes_onto_the_gpu_when_it_fits_a_quarter_of_the_trials_own_share():
    cifar10 = 184 << 20
    assert gpu.data_on_device(cifar10, 0.25, 24 * GB)          # 184 MB of a 5.4 GB share
    assert gpu.data_on_device(cifar10, 1.0, 16 * GB)
    assert not gpu.data_on_device(20 * GB, 0.25, 80 * GB)      # ImageNet-size splits stay on the host
    assert not gpu.data_on_device(cifar10, 0.1, 4 * GB)        # a small share of a small GPU: host
    # the decision depends on the share alone, not on what neighbours starting now have allocated
    assert gpu.data_on_device(cifar10, 0.25, 24 * GB) == gpu.data_on_device(cifar10, 0.25, 24 * GB)


def test_deterministic_mode_switches_on_and_off():
    try:
        gpu.use_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        assert torch.backends.cudnn.deterministic
    finally:
        gpu.use_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark


def test_deterministic_cpu_runs_give_the_same_bits():
    from raycnn.config import run_config_from_dict
    from raycnn.fit import fit

    config = run_config_from_dict({"train": {"epochs": 2, "deterministic": True, "precision": "fp32"}})
    first, second = fit(config), fit(config)
    assert first.confusion == second.confusion and first.history[-1].train_loss == second.history[-1].train_loss


def test_dropout_drops_the_same_share_on_every_device(monkeypatch):
    """p is rounded to 1/256 for the CPU's cheap mask; other devices get the same rounded p."""
    import torch.nn.functional as F

    from raycnn.models.layers import Dropout

    asked = []
    monkeypatch.setattr(F, "dropout", lambda x, p, training: asked.append(p) or x)
    Dropout(0.4).train()(torch.zeros(4, 4, device="meta"))
    assert asked == [round(0.4 * 256) / 256]
    x = torch.ones(200_000)
    kept = (Dropout(0.4).train()(x) != 0).float().mean().item()     # the CPU's own mask
    assert kept == pytest.approx(1 - round(0.4 * 256) / 256, abs=0.005)


def test_release_memory_runs_without_a_gpu():
    gpu.release_memory()
