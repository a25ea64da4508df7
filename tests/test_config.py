from __future__ import annotations

import pytest

from raycnn.config import RunConfig, replace_field, run_config_from_dict
from raycnn.errors import ConfigError


def test_defaults_are_the_offline_quickstart_with_raycnns_recipe():
    config = run_config_from_dict({})
    assert (config.data.dataset, config.model.arch, config.train.optimizer) == ("digits", "custom_cnn", "adamw")
    assert config.data.val_fraction == 0.1 and config.train.batch_size == 64
    assert (config.train.schedule, config.augment.preset, config.train.ema_decay) == ("onecycle", "flip_shift", 0.999)


def test_the_users_recipe_file_gives_the_users_training():
    from conftest import REPO
    from raycnn.train import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(["--config", str(REPO / "recipes" / "users.yaml")]))
    assert (config.train.optimizer, config.train.lr, config.train.batch_size) == ("adam", 1e-3, 128)
    assert (config.train.label_smoothing, config.train.test_time_flip, config.train.ema_decay) == (0.0, False, None)
    assert config.augment.preset == "none" and config.train.schedule == "reduce_on_plateau"


def test_round_trip_through_a_plain_dict():
    config = run_config_from_dict({"model": {"filters": [64, 128], "dropout": 0.4},
                                   "data": {"oversample": {"3": 2.0}, "subset": 0.25},
                                   "augment": {"preset": "standard", "class_preset": "strong", "classes": ["3"]}})
    assert config.model.filters == (64, 128)
    assert config.data.oversample == (("3", 2.0),)
    assert run_config_from_dict(config.to_dict()) == config
    assert isinstance(config, RunConfig)


@pytest.mark.parametrize("mapping,message", [
    ({"trian": {}}, "unknown section 'trian'; valid sections: data, model, augment, train"),
    ({"train": {"epoch": 3}}, "train.epoch: unknown key; valid keys: epochs,"),
    ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer, got 'ten'"),
    ({"train": {"lr": True}}, "train.lr: expected a number, got True"),
    ({"train": {"optimizer": "rmsprop"}}, "train.optimizer: 'rmsprop' is not valid; choose one of: adam, adamw"),
    ({"model": {"arch": "vgg"}}, "model.arch: 'vgg' is not valid; choose one of: airbench, alexnet,"),
    ({"data": {"val_fraction": 0.95}}, "data.val_fraction: 0.95 is out of range"),
    ({"augment": {"classes": ["cat"]}}, "augment.classes and augment.class_preset go together"),
    ({"model": {"arch": "resnet18", "dropout": 0.2}}, "model.dropout: resnet18 does not take this option"),
])
def test_bad_values_name_the_source_and_key(mapping, message):
    with pytest.raises(ConfigError) as err:
        run_config_from_dict(mapping, "study.yaml")
    assert str(err.value).startswith("study.yaml: ")
    assert message in str(err.value)


def test_replace_field_validates():
    config = replace_field(run_config_from_dict({}), "train.lr", 0.01)
    assert config.train.lr == 0.01
    with pytest.raises(ConfigError, match="train.lr: -1.0 is out of range"):
        replace_field(config, "train.lr", -1.0)
    with pytest.raises(ConfigError, match="not a config key"):
        replace_field(config, "lr", 0.1)
