"""Run a study as a Ray Tune sweep: `python -m raycnn.sweep FILE [options]`.

    python -m raycnn.sweep sweeps/quickstart.yaml
    python -m raycnn.sweep sweeps/kernels.yaml --dry-run
    python -m raycnn.sweep sweeps/kernels.yaml --address auto --storage s3://bucket/runs
    python -m raycnn.sweep sweeps/quickstart.yaml --resume          # after a crash or Ctrl-C
    python -m raycnn.sweep sweeps/quickstart.yaml --set fixed.train.epochs=3 --name quick3

Before Ray starts, the file and every trial it expands to are validated (data present or
downloadable, each architecture built for its input); problems are listed and nothing runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from raycnn.cli import OneLineParser, run_cli
from raycnn.errors import ConfigError
from raycnn.yamlfile import load_yaml
from raycnn.sweep.expand import MAX_TRIALS, check_trial_count, expand_trials
from raycnn.sweep.hyperband import asha_epochs, bracket_epochs, fill_brackets, hyperband_brackets, scheduler_max_t
from raycnn.sweep.spec import SweepConfig, TrialSpec, sweep_from_dict
from raycnn.sweep.sweepfile import read_sweep_yaml
from raycnn.sweep.validate import check_schedule, find_problems


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m raycnn.sweep", description=__doc__.split("\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", help="sweep YAML file (see sweeps/)")
    parser.add_argument("--dry-run", action="store_true", help="list the trials and exit without training")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted sweep of this name")
    parser.add_argument("--address", help="join a Ray cluster: auto, or HOST:PORT (default: run locally)")
    parser.add_argument("--storage", help="where runs are stored (a folder, or s3://... on clusters; "
                                          "default: $RAYCNN_STORAGE, else the file's storage, else runs/)")
    parser.add_argument("--name", help="run name (default: the file's name field)")
    parser.add_argument("--max-concurrent", type=int, help="at most N trials at once")
    parser.add_argument("--max-trials", type=int, default=MAX_TRIALS, metavar="N",
                        help=f"refuse a sweep that expands to more than N trials (default {MAX_TRIALS:,})")
    parser.add_argument("--tracker", action="append", default=[], metavar="NAME",
                        help="log every trial to a tracker too: mlflow, wandb (repeatable; or trackers: in the file)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the file, e.g. fixed.train.epochs=3 or num_samples=2 (repeatable)")
    return parser


def load_with_overrides(args: argparse.Namespace) -> SweepConfig:
    raw = read_sweep_yaml(args.file)
    if not isinstance(raw, dict):
        raise ConfigError(f"{args.file}: a sweep file is a mapping with at least name, question and fixed")
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. fixed.train.epochs=3")
        _set_path(raw, key.strip().split("."), load_yaml(text), item)
    storage = args.storage or os.environ.get("RAYCNN_STORAGE") or None   # a cluster sets RAYCNN_STORAGE once
    if args.tracker:
        given = raw.get("trackers") or []
        raw["trackers"] = ([given] if isinstance(given, str) else list(given)) + args.tracker
    for key, value in (("name", args.name), ("storage", storage), ("max_concurrent", args.max_concurrent)):
        if value is not None:
            raw[key] = value
    return sweep_from_dict(raw, args.file)


def _set_path(raw: dict, parts: list[str], value: Any, item: str) -> None:
    """Set a dotted key; below a `space` mapping the rest is one key (space.model.kernel_size=[3, 5]).
    `null` removes the key, so its default applies (fixed.train.optimizer=null)."""
    for index, part in enumerate(parts):
        key = ".".join(parts[index:]) if index and parts[index - 1] == "space" else part
        if key != part or index == len(parts) - 1:
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value
            return
        raw = raw.setdefault(part, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"--set {item}: {part} is not a mapping in the sweep file")


def print_trials(sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    keys = sweep.varied_keys()
    width = max(len(t.name) for t in trials)
    print(f"{sweep.name}: {sweep.question}")
    print(f"{'trial':<7}{'name':<{width + 2}}" + "".join(f"{k:<22}" for k in keys))
    for trial in trials:
        print(f"{trial.trial_id:<7}{trial.name:<{width + 2}}" + "".join(f"{str(trial.values.get(k)):<22}" for k in keys))
    full = sum(t.config.train.epochs for t in trials)
    print(f"\n{len(trials)} trials; a full grid is {full} epochs", end="")
    if sweep.scheduler.kind == "asha":
        per = "per cell" if sweep.tune is not None else "per dataset"
        print(f"; ASHA {per} (grace {sweep.scheduler.grace_period}, keep 1/{sweep.scheduler.reduction_factor} "
              f"per rung) needs about {asha_epochs(sweep, trials)} if it stops trials as designed", end="")
    if sweep.tune is not None:
        print_tuned(sweep, trials)
    print(f"\nresources per trial: {sweep.resources.cpus:g} CPU, {sweep.resources.gpus:g} GPU")


def print_tuned(sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    """Cells, trials per cell and the epoch budget of both stages."""
    cells = sorted({t.cell for t in trials})
    tune = sweep.tune
    confirm_epochs = sum(max(t.config.train.epochs for t in trials if t.cell == c) for c in cells) * tune.confirm_seeds
    space = ", ".join(f"{d.key} {d.form} {list(d.values)}" for d in tune.space)
    print(f"\ntuned comparison: {len(cells)} cells, each searched on its own by {tune.searcher} over {space}")
    print(f"  tune stage:    {tune.num_samples} trials per cell, {len(trials)} in all, at most "
          f"{sum(t.config.train.epochs for t in trials)} epochs" + (" (ASHA per cell stops the weak ones)"
                                                                     if sweep.scheduler.kind == "asha" else ""))
    if sweep.scheduler.kind == "hyperband":
        print_brackets(sweep, trials)
    if tune.multi:
        print(f"  objectives:    {' and '.join(f'{n} ({m}imised)' for n, (_, m) in zip(tune.objectives, tune.metrics()))}: "
              f"each cell's search looks for its Pareto front; every trial runs its full budget (no early stopping: "
              f"stopping on accuracy alone would cut cheap models before they reach the front)")
        print(f"  confirm stage: up to {tune.confirm_front} members of each cell's front, each with {tune.confirm_seeds} "
              f"fresh seeds to the full budget: at most {len(cells) * tune.confirm_front * tune.confirm_seeds} trials, "
              f"{confirm_epochs * tune.confirm_front} epochs (starts when every search has ended)")
    else:
        print(f"  confirm stage: each cell's best values with {tune.confirm_seeds} fresh seeds to the full budget: "
              f"{len(cells) * tune.confirm_seeds} trials, {confirm_epochs} epochs (starts when every search has ended)")
    for cell in cells:
        print(f"  cell {cell}")


def print_brackets(sweep: SweepConfig, trials: list[TrialSpec]) -> None:
    """BOHB's HyperBand brackets in each cell, which of them a cell's trials fill, and the epochs spent."""
    max_t = scheduler_max_t(sweep, trials)
    eta = sweep.scheduler.reduction_factor
    brackets = hyperband_brackets(max_t, eta)
    used = fill_brackets(brackets, sweep.tune.num_samples)
    cells = len({t.cell for t in trials})
    print(f"  HyperBand per cell (BOHB's, keep 1/{eta} at each milestone): brackets of "
          + ", ".join(f"{n} trials from {r} epoch{'s' if r > 1 else ''}" for n, r in brackets)
          + f"; a cell's {sweep.tune.num_samples} trials take "
          + ", ".join(f"{take} of {n} from {r} epoch{'s' if r > 1 else ''}" for take, n, r in used)
          + f"; about {cells * sum(bracket_epochs(take, n, r, max_t, eta) for take, n, r in used)} epochs "
            f"if the brackets stop trials as designed")


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sweep = load_with_overrides(args)
    check_trial_count(sweep, args.max_trials)
    trials = expand_trials(sweep)
    check_schedule(sweep, trials)
    problems = find_problems(sweep, trials)
    if problems and sweep.skip_invalid:
        print(f"skip_invalid: dropping {len(problems)} trial(s) that cannot run:")
        _print_problems(problems, sys.stdout)
        bad = {p.trial.trial_id for p in problems}
        trials, problems = [t for t in trials if t.trial_id not in bad], []
    placement = _local_placement(sweep) if args.address is None else None
    if args.dry_run:
        print_trials(sweep, trials)
        if placement:
            print(f"\nwarning: {placement}")
        if problems:  # a plan, not a run: show it whole, and what would stop the run here
            print(f"\nwarning: {len(problems)} trial(s) cannot run on this machine (a real run stops here "
                  f"unless the file says skip_invalid: true):")
            _print_problems(problems, sys.stdout)
        return 0
    if problems:
        print(f"error: {sweep.source}: {len(problems)} trial(s) cannot run:", file=sys.stderr)
        _print_problems(problems, sys.stderr)
        return 2
    if placement:
        raise ConfigError(placement)
    from raycnn.sweep.resume import check_run_directory
    from raycnn.sweep.run import run_sweep
    from raycnn.sweep.runfiles import run_directory

    check_run_directory(sweep, trials, args.resume)
    if sweep.trackers:                     # Ray's tracker integrations import Ray: only when a tracker is asked for
        from raycnn.sweep.trackers import check_trackers

        check_trackers(sweep.trackers, run_directory(sweep))
    return run_sweep(sweep, trials, args.address, args.resume)


def _local_placement(sweep: SweepConfig) -> str | None:
    """Why this machine cannot run one trial of the sweep (too few GPUs or CPUs), or None."""
    from raycnn.sweep.placement import check_local, this_machine

    try:
        check_local(sweep.resources.cpus, sweep.resources.gpus, this_machine())
    except ConfigError as err:
        return str(err)
    return None


def _print_problems(problems, stream) -> None:
    """One line per distinct reason, naming the trials it stops (the first few by name)."""
    by_message: dict[str, list] = {}
    for problem in problems:
        by_message.setdefault(problem.message, []).append(problem.trial)
    for message, trials in by_message.items():
        names = ", ".join(f"{t.trial_id} {t.name}" for t in trials[:2])
        more = f" and {len(trials) - 2} more" if len(trials) > 2 else ""
        print(f"  {names}{more}: {message}", file=stream)


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
