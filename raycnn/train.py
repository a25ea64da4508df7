"""One trial, no Ray: `python -m raycnn.train [flags]`.

    python -m raycnn.train --dataset digits --arch custom_cnn --epochs 10
    python -m raycnn.train --dataset mnist --data-root ../shared/datasets --epochs 1
    python -m raycnn.train --dataset imagefolder --data-path ../shared/datasets/cifar10 \\
        --arch alexnet_cifar --augment flip_crop --epochs 50 --early-stopping 5 --schedule reduce_on_plateau
    python -m raycnn.train --config run.yaml --set model.dropout=0.4 --set train.optimizer=adamw
    python -m raycnn.train --arch examples/tiny_net.py:TinyNet --set model.kwargs.width=32
    python -m raycnn.train --arch torchvision/mobilenet_v3_small --image-size 32 --epochs 2
    python -m raycnn.train --list-models

Writes OUT/config.yaml at the start, OUT/checkpoints/{last,best}.pt and TensorBoard events
(OUT/tensorboard/<run name>/) every epoch, and OUT/result.json at the end. `--resume` continues
an interrupted run in OUT. Watch it with `tensorboard --logdir OUT`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from raycnn.config import RunConfig, absolute_path, run_config_from_dict
from raycnn.cli import OneLineParser, run_cli
from raycnn.errors import ConfigError
from raycnn.yamlfile import load_yaml

# flag -> config key; each flag's default is the config's own (None here = not given)
FLAGS = {
    "arch": "model.arch", "kernel_size": "model.kernel_size",
    "dataset": "data.dataset", "data_root": "data.data_root", "data_path": "data.data_path",
    "cache_dir": "data.cache_dir", "subset": "data.subset", "val_fraction": "data.val_fraction",
    "image_size": "data.image_size", "augment": "augment.preset",
    "epochs": "train.epochs", "batch_size": "train.batch_size", "lr": "train.lr",
    "optimizer": "train.optimizer", "schedule": "train.schedule", "weight_decay": "train.weight_decay",
    "momentum": "train.momentum", "label_smoothing": "train.label_smoothing",
    "early_stopping": "train.early_stopping", "seed": "train.seed", "device": "train.device",
    "precision": "train.precision", "weights": "model.weights",
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m raycnn.train", description=__doc__.split("\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--config", type=Path, help="YAML file with data/model/augment/train sections")
    add("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="any config field, e.g. model.dropout=0.4 or model.filters=[64,128] (repeatable)")
    add("--arch", help="architecture: a built-in (custom_cnn, alexnet_cifar, alexnet_small, alexnet, resnet18), "
                       "torchvision/<name> (its zoo), or your own: path/file.py:Name or package.module:Name")
    add("--weights", help="torchvision zoo models: pretrained weights, e.g. DEFAULT (default: random init)")
    add("--list-models", action="store_true", help="list the built-in architectures and torchvision's zoo, then exit")
    add("--dataset", help="digits (offline default), mnist, fashion_mnist, cifar10, cifar100, imagefolder, "
                          "torchvision/<Name> (e.g. torchvision/SVHN), or your own Dataset: file.py:Name")
    add("--data-root", help="folder holding (or receiving) torchvision datasets; default ./data")
    add("--data-path", help="imagefolder: folder with train/<class>/* and test/<class>/*")
    add("--cache-dir", help="where decoded datasets are cached; default $RAYCNN_CACHE_DIR or ~/.cache/raycnn")
    add("--no-download", action="store_true", help="never download; fail if the files are missing")
    add("--augment", help="none, flip_crop, standard, strong")
    add("--kernel-size", type=int)
    add("--image-size", type=int, help="resize images to N x N (e.g. 224 for the original AlexNet)")
    add("--subset", type=float, help="per-class stratified fraction of train and test, e.g. 0.25")
    add("--val-fraction", type=float, help="stratified validation share of train (default 0.1)")
    add("--epochs", type=int)
    add("--batch-size", type=int)
    add("--lr", type=float, help="learning rate (onecycle: the peak)")
    add("--optimizer", help="adam, adamw, sgd, adadelta")
    add("--schedule", help="constant, reduce_on_plateau, cosine, linear, onecycle")
    add("--weight-decay", type=float)
    add("--momentum", type=float, help="sgd momentum")
    add("--label-smoothing", type=float)
    add("--early-stopping", type=int, metavar="PATIENCE", help="stop after N epochs without a better val accuracy")
    add("--seed", type=int)
    add("--device", help="auto (default), cpu, cuda, cuda:N")
    add("--precision", help="auto (default: fastest measured), fp32, bf16, fp16")
    add("--out", type=Path, help="run folder; default runs/train/<time>-<arch>-<dataset>")
    add("--resume", action="store_true", help="continue the interrupted run in --out")
    add("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    mapping: dict[str, dict[str, Any]] = {}
    source = "command line"
    if args.config is not None:
        mapping = _read_yaml(args.config)
        source = f"{args.config} + command line"
    overrides = {key: getattr(args, flag) for flag, key in FLAGS.items() if getattr(args, flag) is not None}
    if args.no_download:
        overrides["data.download"] = False
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. model.dropout=0.4")
        overrides[key.strip()] = load_yaml(text)
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if not isinstance(mapping.setdefault(section, {}), dict) or not name:
            raise ConfigError(f"{source}: {key!r} is not a config key; use SECTION.KEY")
        name, _, inner = name.partition(".")          # model.kwargs.width=32: one key of a mapping
        if inner:
            mapping[section].setdefault(name, {})[inner] = value
        else:
            mapping[section][name] = value
    return run_config_from_dict(mapping, source)


def _read_yaml(path: Path) -> dict:
    try:
        loaded = load_yaml(path.read_text())
    except OSError as err:
        raise ConfigError(f"--config {path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"--config {path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return loaded or {}


def default_out(config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    from raycnn.code import short_name

    return Path("runs") / "train" / f"{stamp}-{short_name(config.model.arch)}-{short_name(config.data.dataset)}"


def check_out_dir(out: Path, resume: bool) -> None:
    from raycnn import checkpoint

    if resume and not checkpoint.exists(out / "checkpoints"):
        raise ConfigError(f"--resume: {out} holds no checkpoint to continue; drop --resume to start a new run")
    if not resume and (checkpoint.exists(out / "checkpoints") or (out / "result.json").exists()):
        raise ConfigError(f"--out {out} already holds a run; pass --resume to continue it or choose "
                          f"another --out")


def print_epoch(metrics) -> None:
    print(f"epoch {metrics.epoch:3d}  train loss {metrics.train_loss:.4f} acc {metrics.train_accuracy:.4f}  "
          f"val loss {metrics.val_loss:.4f} acc {metrics.val_accuracy:.4f}  lr {metrics.lr:.2e}  "
          f"{metrics.seconds:.1f}s  {metrics.images_per_second:.0f} img/s", flush=True)


def write_result(out: Path, result, config: RunConfig, environment: dict) -> Path:
    from raycnn import code

    record = {**result.to_dict(), "config": config.to_dict(), "environment": environment,
              "checkpoint": str(out / "checkpoints" / "best.pt"),
              "code": [code.record(ref) for ref in code.refs(config)]}
    path = out / "result.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def print_summary(result, path: Path) -> None:
    weakest = min(result.per_class, key=lambda row: row["f1"])
    print(f"test accuracy {result.test_accuracy:.4f} (loss {result.test_loss:.4f}) with the weights of epoch "
          f"{result.best_epoch}; {result.status} after {result.epochs_completed} epochs, "
          f"{result.train_seconds:.1f}s, {result.train_images_per_second:.0f} img/s ({result.precision}, "
          f"{result.device}); {result.params:,} trainable params")
    print(f"weakest class: {weakest['class']} (F1 {weakest['f1']:.3f}); result: {path}")


def list_models() -> str:
    from raycnn.models import list_models as built_in, zoo_names

    zoo = zoo_names()
    return "\n".join([f"built-in ({len(built_in())}): " + ", ".join(built_in()),
                      f"torchvision zoo ({len(zoo)}; random weights, or --weights DEFAULT): " + ", ".join(zoo),
                      "your own: --arch path/to/file.py:ClassOrFunction or package.module:ClassOrFunction "
                      "(given in_channels, num_classes, input_size, kernel_size and model.* options it names)"])


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_models:
        print(list_models())
        return 0
    from raycnn.environment import environment_record
    from raycnn.errors import is_out_of_memory
    from raycnn.fit import TrainingDiverged, fit
    from raycnn.precision import resolve_device
    from raycnn.tensorboard import EpochLogger, hyperparameters, run_name

    from raycnn.fit import count_trial_parameters

    config = config_from_args(args)
    out = Path(absolute_path(str(args.out or default_out(config))))
    check_out_dir(out, args.resume)
    count_trial_parameters(config)       # data there, model buildable for it: one line and exit 2 if not
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    board = EpochLogger(out / "tensorboard", run_name(config), hyperparameters(config), config.data)
    def report(metrics) -> None:
        board(metrics)
        if not args.quiet:
            print_epoch(metrics)

    result, status = None, None
    try:
        result = fit(config, report=report, out_dir=out, resume=args.resume, on_improvement=board.new_best,
                     progress=not args.quiet and sys.stderr.isatty())
        status = result.status
    except TrainingDiverged:
        status = "diverged"
        raise
    except RuntimeError as err:
        status = "oom" if is_out_of_memory(err) else None
        raise
    finally:  # interrupted (Ctrl-C): no status, the run goes on with --resume
        board.close(final_test=result.test_evaluation() if result is not None else None, status=status)
    path = write_result(out, result, config, environment_record(resolve_device(config.train.device)))
    print_summary(result, path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
