"""Training throughput of raycnn against the loop users write by hand, side by side in one run.

    python benchmarks/throughput.py                       # CIFAR-10 folder from ../shared/datasets
    python benchmarks/throughput.py --data-path DIR --subset 0.2 --accuracy-epochs 3
    python benchmarks/throughput.py --synthetic           # random CIFAR-shaped data, no accuracy

Measures, for custom_cnn (defaults, 1,471,466 params) with flip_crop augmentation, batch 128, Adam:
1. raycnn's trainer (the training pass of `fit`): images per second over whole epochs;
2. a hand-written loop: in-memory dataset, per-sample PIL RandomCrop(32, 4) / RandomHorizontalFlip /
   ToTensor / Normalize, a torch DataLoader (0 and 2 workers), the same architecture in fp32 built
   from plain torch.nn layers (torch.nn.Dropout);
3. the bare compute rate of the same model on one fixed in-memory batch (forward, backward, Adam
   step), in fp32 and in the precision and memory layout raycnn chose: the ceiling for any loop;
4. test accuracy of raycnn in fp32 and in its chosen precision after the same epochs (same seed).
Prints a table and writes JSON (default benchmarks/results/throughput.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from raycnn.config import run_config_from_dict  # noqa: E402
from raycnn.environment import cpu_name  # noqa: E402
from raycnn.fit import fit, train_one_epoch  # noqa: E402
from raycnn.trial import prepare_trial  # noqa: E402
from raycnn.models import build_model  # noqa: E402
from raycnn.precision import autocast  # noqa: E402

BATCH = 128


def raycnn_config(args, precision: str = "auto", epochs: int = 1) -> dict:
    data = ({"dataset": "imagefolder", "data_path": str(args.data_path), "subset": args.subset}
            if not args.synthetic else {"dataset": "synthetic_cifar"})
    return {"data": data, "augment": {"preset": "flip_crop"},
            "train": {"epochs": epochs, "batch_size": BATCH, "precision": precision, "seed": 0}}


class RaycnnRunner:
    """raycnn's own training pass (`train_one_epoch` of fit), one epoch per measurement."""

    def __init__(self, args):
        self.trial = prepare_trial(run_config_from_dict(raycnn_config(args)), out_dir=None, resume=False)
        self.precision = self.trial.precision

    def measure(self) -> float:
        _, _, images, seconds = train_one_epoch(self.trial)
        return images / seconds


class HandWrittenDataset(torch.utils.data.Dataset):
    """What a tutorial-style loop does: PIL transforms one image at a time."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray, mean, std, augment: bool = True):
        import torchvision.transforms as T

        self.images, self.labels = images_hwc, labels
        crop_flip = [T.RandomCrop(images_hwc.shape[1], padding=4), T.RandomHorizontalFlip()] if augment else []
        self.transform = T.Compose(crop_flip + [T.ToTensor(), T.Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def with_plain_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """The same architecture as a user writes it: torch.nn.Dropout instead of raycnn's cheaper-mask one."""
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is not torch.nn.Dropout and isinstance(child, torch.nn.Dropout):
                setattr(module, name, torch.nn.Dropout(child.p))
    return model.train()


class HandLoopRunner:
    """The hand-written fp32 loop: DataLoader over per-sample PIL transforms, plain model, Adam."""

    def __init__(self, dataset, workers: int, batches: int):
        images = dataset.train_x.permute(0, 2, 3, 1).numpy()
        data = HandWrittenDataset(images, dataset.train_y.numpy(), dataset.mean, dataset.std)
        self.loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, num_workers=workers,
                                                  persistent_workers=workers > 0, drop_last=True)
        torch.manual_seed(0)
        self.model = with_plain_dropout(build_model("custom_cnn", in_channels=3,
                                                    num_classes=dataset.num_classes, input_size=(32, 32)))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batches, self.iterator = batches, iter(self.loader)
        self.run(3)                            # warm up workers and kernels

    def next_batch(self):
        try:
            return next(self.iterator)
        except StopIteration:
            self.iterator = iter(self.loader)
            return next(self.iterator)

    def run(self, batches: int) -> None:
        for _ in range(batches):
            x, y = self.next_batch()
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def measure(self) -> float:
        start = time.perf_counter()
        self.run(self.batches)
        return BATCH * self.batches / (time.perf_counter() - start)


class BareComputeRunner:
    """The same model on one fixed in-memory batch: forward, backward, Adam step. No data path."""

    def __init__(self, dataset, precision: str, channels_last: bool, steps: int):
        torch.manual_seed(0)
        memory = torch.channels_last if channels_last else torch.contiguous_format
        self.model = build_model("custom_cnn", in_channels=3, num_classes=dataset.num_classes,
                                 input_size=(32, 32)).to(memory_format=memory).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x = torch.randn(BATCH, 3, 32, 32).contiguous(memory_format=memory)
        self.y = torch.randint(0, dataset.num_classes, (BATCH,))
        self.precision, self.steps = precision, steps
        self.run(3)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            with autocast(torch.device("cpu"), self.precision):
                logits = self.model(self.x)
            loss = F.cross_entropy(logits.float(), self.y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def measure(self) -> float:
        start = time.perf_counter()
        self.run(self.steps)
        return BATCH * self.steps / (time.perf_counter() - start)


def measure_interleaved(runners: dict, rounds: int) -> dict:
    """Round-robin measurements so that drift in machine speed hits every contender alike."""
    rates = {name: [] for name in runners}
    for round_index in range(rounds):
        for name, runner in runners.items():
            rates[name].append(runner.measure())
        print(f"round {round_index + 1}/{rounds}: " +
              ", ".join(f"{name} {values[-1]:.0f}" for name, values in rates.items()), flush=True)
    return {name: {"median": float(np.median(values)), "rounds": values} for name, values in rates.items()}


def measure_accuracy(args, precisions: list[str]) -> dict:
    out = {}
    for precision in precisions:
        result = fit(run_config_from_dict(raycnn_config(args, precision, epochs=args.accuracy_epochs)))
        out[precision] = {"test_accuracy": result.test_accuracy, "test_images": int(sum(map(sum, result.confusion))),
                          "train_seconds": result.train_seconds}
    return out


def register_synthetic() -> None:
    """Random CIFAR-shaped data (10,000 train / 1,000 test) for a throughput-only run."""
    from raycnn.data import register_dataset
    from raycnn.data.dataset import DecodedData

    def synthetic(config):
        g = torch.Generator().manual_seed(0)
        images = lambda n: torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
        labels = lambda n: torch.randint(0, 10, (n,), generator=g)
        return DecodedData(tuple(f"c{i}" for i in range(10)), images(10000), labels(10000), images(1000),
                           labels(1000), flip_keeps_label=True)
    from raycnn.data.sources import DatasetInfo

    register_dataset("synthetic_cifar", cache_key=lambda config: "synthetic-cifar-v1",
                     describe=lambda config: DatasetInfo(3, (32, 32), 10))(synthetic)


def print_table(report: dict) -> None:
    chosen = report["precision"]
    labels = {"raycnn": f"raycnn fit() [{chosen}]", "hand_loop_2_workers": "hand loop, 2 workers [fp32]",
              "hand_loop_0_workers": "hand loop, 0 workers [fp32]", "bare_fp32": "bare compute [fp32]",
              "bare_chosen": f"bare compute [{chosen}, channels_last]"}
    print(f"\n{'what':<40}{'img/s (median)':>15}")
    for name, label in labels.items():
        print(f"{label:<40}{report['rates'][name]['median']:>15.0f}")
    ratios = report["ratios"]
    print(f"\nraycnn / faster hand-written loop:     {ratios['raycnn_vs_hand_loop']:.2f}x  (target >= 2.5)")
    print(f"raycnn / bare compute, same precision: {ratios['raycnn_vs_bare_compute']:.0%}  (target >= 90%)")
    for precision, row in report.get("accuracy", {}).items():
        print(f"test accuracy {precision:>5}: {row['test_accuracy']:.4f} on {row['test_images']} images "
              f"({row['train_seconds']:.0f}s of training)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-path", type=Path, default=REPO.parent / "shared" / "datasets" / "cifar10")
    parser.add_argument("--subset", type=float, default=0.2, help="per-class share of the CIFAR-10 folder")
    parser.add_argument("--synthetic", action="store_true", help="random CIFAR-shaped data; skips accuracy")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurement rounds")
    parser.add_argument("--batches", type=int, default=40, help="batches per round for the hand loops")
    parser.add_argument("--accuracy-epochs", type=int, default=4)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "throughput.json")
    args = parser.parse_args()
    if args.synthetic or not (args.data_path / "train").is_dir():
        args.synthetic = True
        register_synthetic()
    raycnn = RaycnnRunner(args)
    dataset = raycnn.trial.dataset
    raycnn.measure()                          # warm-up epoch
    runners = {"raycnn": raycnn,
               "hand_loop_2_workers": HandLoopRunner(dataset, 2, args.batches),
               "hand_loop_0_workers": HandLoopRunner(dataset, 0, args.batches),
               "bare_fp32": BareComputeRunner(dataset, "fp32", False, args.batches),
               "bare_chosen": BareComputeRunner(dataset, raycnn.precision, True, args.batches)}
    report = {"machine": {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "python": platform.python_version()},
              "data": "synthetic" if args.synthetic else f"{args.data_path} subset {args.subset}",
              "train_images": len(dataset.train_y), "batch_size": BATCH, "precision": raycnn.precision,
              "rates": measure_interleaved(runners, args.rounds)}
    rates = {name: row["median"] for name, row in report["rates"].items()}
    hand = max(rates["hand_loop_2_workers"], rates["hand_loop_0_workers"])
    report["ratios"] = {"raycnn_vs_hand_loop": rates["raycnn"] / hand,
                        "raycnn_vs_bare_compute": rates["raycnn"] / rates["bare_chosen"]}
    if not (args.skip_accuracy or args.synthetic):
        report["accuracy"] = measure_accuracy(args, sorted({"fp32", raycnn.precision}))
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
