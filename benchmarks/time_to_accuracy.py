"""Time to the users' accuracy: raycnn's default recipe against the users' own loop, side by side in one run.

    python benchmarks/time_to_accuracy.py                       # CIFAR-10 and MNIST from ../shared/datasets
    python benchmarks/time_to_accuracy.py --only mnist --users-epochs 5

For each dataset, custom_cnn (1,471,466 parameters on CIFAR-10) is trained twice on the same training split,
with the test accuracy measured after every epoch (that evaluation is not counted in the times):
1. raycnn: `fit()`'s epochs with raycnn's defaults, nothing set but the dataset and the epochs;
2. the users' recipe as the plain PyTorch loop of their notebooks: Adam 1e-3, batch 128, fp32, a
   DataLoader (2 workers) over per-sample PIL transforms (CIFAR-10: random crop and flip, as their
   notebook's generator; MNIST: none), reduce-LR-on-plateau, the same architecture from torch.nn layers.
The headline is how much sooner raycnn first reaches the users' number (goal: 10x). Prints a table,
writes JSON and a figure of both test-accuracy curves against wall time and epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from raycnn.config import run_config_from_dict  # noqa: E402
from raycnn.environment import cpu_name  # noqa: E402
from raycnn.evaluation import evaluate  # noqa: E402
from raycnn.fit import run_epoch  # noqa: E402
from raycnn.trial import prepare_trial  # noqa: E402
from raycnn.models import build_model  # noqa: E402
from throughput import HandWrittenDataset, with_plain_dropout  # noqa: E402

TARGETS = {"cifar10": 0.8574, "mnist": 0.99}       # the users' numbers: CIFAR-10 after 50 epochs; MNIST's best


def data_config(name: str, root: Path) -> dict:
    return {"dataset": name, "data_root": str(root)}


def raycnn_curve(name: str, root: Path, epochs: int, target: float) -> list[dict]:
    """(epoch, training seconds so far, test accuracy) of raycnn's defaults, until `epochs` (the whole run)."""
    trial = prepare_trial(run_config_from_dict({"data": data_config(name, root), "train": {"epochs": epochs}}),
                          out_dir=None, resume=False)
    curve, seconds = [], 0.0
    while trial.state.epoch < epochs:
        start = time.perf_counter()
        run_epoch(trial)
        seconds += time.perf_counter() - start
        _, accuracy, _ = evaluate(trial, trial.data["test_x"], trial.data["test_y"])
        curve.append({"epoch": trial.state.epoch, "seconds": seconds, "test_accuracy": accuracy})
        print(f"raycnn {name} epoch {trial.state.epoch}: {accuracy:.4f} after {seconds:.0f} s", flush=True)
    return curve


class UsersLoop:
    """The users' notebook loop: per-sample PIL transforms in a DataLoader, Adam 1e-3, plateau LR, fp32."""

    def __init__(self, name: str, root: Path):
        trial = prepare_trial(run_config_from_dict({"data": data_config(name, root)}), out_dir=None, resume=False)
        data = trial.dataset
        images = data.train_x.permute(0, 2, 3, 1).numpy()
        train = HandWrittenDataset(images[..., 0] if data.channels == 1 else images, data.train_y.numpy(), data.mean,
                                   data.std, augment=name == "cifar10")
        self.loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=2,
                                                  persistent_workers=True)
        torch.manual_seed(0)
        self.model = with_plain_dropout(build_model("custom_cnn", in_channels=data.channels,
                                                    num_classes=data.num_classes, input_size=data.image_size))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=3)
        mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
        self.val = ((data.val_x.float() / 255 - mean) / std, data.val_y)
        self.test = ((data.test_x.float() / 255 - mean) / std, data.test_y)

    def epoch(self) -> None:
        self.model.train()
        for x, y in self.loader:
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.plateau.step(self.loss(*self.val))

    @torch.no_grad()
    def loss(self, x, y) -> float:
        self.model.eval()
        return sum(F.cross_entropy(self.model(x[i:i + 512]), y[i:i + 512], reduction="sum").item()
                   for i in range(0, len(y), 512)) / len(y)

    @torch.no_grad()
    def accuracy(self) -> float:
        self.model.eval()
        x, y = self.test
        return sum((self.model(x[i:i + 512]).argmax(1) == y[i:i + 512]).sum().item() for i in range(0, len(y), 512)) / len(y)


def users_curve(name: str, root: Path, epochs: int, target: float) -> list[dict]:
    """The users' loop, epoch by epoch until it reaches `target` or `epochs`."""
    loop, curve, seconds = UsersLoop(name, root), [], 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loop.epoch()
        seconds += time.perf_counter() - start
        curve.append({"epoch": epoch, "seconds": seconds, "test_accuracy": loop.accuracy()})
        print(f"users {name} epoch {epoch}: {curve[-1]['test_accuracy']:.4f} after {seconds:.0f} s", flush=True)
        if curve[-1]["test_accuracy"] >= target:
            break
    return curve


def first_reach(curve: list[dict], target: float) -> dict | None:
    return next((point for point in curve if point["test_accuracy"] >= target), None)


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.6 * len(results)), squeeze=False)
    for row, (name, result) in enumerate(results.items()):
        for column, key in enumerate(("seconds", "epoch")):
            ax = axes[row][column]
            for who, style in (("raycnn", "-o"), ("users", "--s")):
                curve = result[who]["curve"]
                xs = [p[key] / (60 if key == "seconds" else 1) for p in curve]
                ax.plot(xs, [100 * p["test_accuracy"] for p in curve], style, label=f"{who}", markersize=3)
            ax.axhline(100 * result["target"], color="grey", linewidth=0.8, linestyle=":")
            ax.set_xlabel("training minutes" if key == "seconds" else "epoch")
            ax.set_ylabel(f"{name} test accuracy %")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--only", nargs="*", default=["cifar10", "mnist"])
    parser.add_argument("--epochs", type=int, nargs=2, default=(10, 3), metavar=("CIFAR", "MNIST"),
                        help="raycnn's epochs (its default recipe's whole run)")
    parser.add_argument("--users-epochs", type=int, default=30, help="the users' loop stops here if it has not reached")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "time_to_accuracy.json")
    args = parser.parse_args()
    results = {}
    for name in args.only:
        target = TARGETS[name]
        epochs = args.epochs[0] if name == "cifar10" else args.epochs[1]
        ours = raycnn_curve(name, args.data_root, epochs, target)
        theirs = users_curve(name, args.data_root, args.users_epochs, target)
        results[name] = {"target": target, "raycnn": {"curve": ours, "reached": first_reach(ours, target)},
                         "users": {"curve": theirs, "reached": first_reach(theirs, target)}}
    print(f"\n{'dataset':<9}{'target':>8}  {'raycnn: epoch, min':<22}{'users: epoch, min':<34}{'sooner':>8}")
    for name, r in results.items():
        mine, theirs, last = r["raycnn"]["reached"], r["users"]["reached"], r["users"]["curve"][-1]
        mine_text = f"{mine['epoch']}, {mine['seconds'] / 60:.1f}" if mine else "not reached"
        their_text = (f"{theirs['epoch']}, {theirs['seconds'] / 60:.1f}" if theirs else
                      f"not in {last['epoch']} ({last['seconds'] / 60:.1f} min, {100 * last['test_accuracy']:.2f}%)")
        ratio_text = "-"
        if mine:
            r["ratio"], r["ratio_is_lower_bound"] = (theirs or last)["seconds"] / mine["seconds"], theirs is None
            ratio_text = (">" if theirs is None else "") + f"{r['ratio']:.1f}x"
        print(f"{name:<9}{100 * r['target']:>7.2f}%  {mine_text:<22}{their_text:<34}{ratio_text:>8}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu": cpu_name(), "torch": torch.__version__, "results": results}, indent=1))
    figure(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
