"""Read one or more run folders (RUN_DIR/results/*.parquet) into one set of results.

Only what runs write is read: trials, epochs, classes and confusion tables (and sweep.yaml for the
sweep's name and question, when present). Trials of several run folders are kept apart by a key
`<run>/<trial_id>`, so a sweep and its follow-up can be merged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from runformat import FINISHED, TABLES

REQUIRED = ("trials", "confusion")          # the report needs these; the others add names and curves
REDUNDANT = {"model.arch", "data.dataset", "augment.preset", "model.kernel_size", "train.seed"}
NOT_FACTORS = {"data.cache_dir", "data.data_root", "data.data_path", "train.device", "data.download"}


class AnalysisError(Exception):
    """Bad input for the report: one line that says what and what to do."""


@dataclass
class Results:
    trials: pd.DataFrame                       # one row per usable trial, indexed by key
    epochs: pd.DataFrame                       # key, epoch, val_accuracy, ...
    confusion: dict[str, np.ndarray]           # key -> K x K counts (rows = true class)
    classes: dict[str, tuple[str, ...]]        # dataset -> class names
    runs: list[dict] = field(default_factory=list)   # {path, name, question}
    left_out: dict[str, int] = field(default_factory=dict)  # status -> count of trials not analysed
    tuning: pd.DataFrame | None = None         # tuned sweeps: the tuning-stage trials (not compared)


def load_runs(paths: list[str | Path]) -> Results:
    parts = [_load_run(_local(str(p))) for p in paths]
    trials = pd.concat([p[0] for p in parts], ignore_index=True)
    epochs = pd.concat([p[1] for p in parts], ignore_index=True)
    confusion = {k: v for p in parts for k, v in p[2].items()}
    classes: dict[str, tuple[str, ...]] = {}
    for p in parts:
        classes.update(p[3])
    trials = _normalize(trials)
    tuning = None
    if "stage" in trials.columns and (trials["stage"] == "confirm").any():
        # a tuned comparison: tuning trials were chosen on validation, so their test scores are biased up;
        # cells are compared on the confirm stage only (fresh seeds), tuning trials feed the tuning curves
        tuning = trials[trials["stage"] == "tune"].set_index("key", drop=False)
        trials = trials[trials["stage"] == "confirm"]
    usable = trials["status"].isin(FINISHED) & trials["key"].isin(list(confusion))
    left_out = trials.loc[~usable, "status"].value_counts().to_dict()
    trials = trials[usable].set_index("key", drop=False)
    if trials.empty:
        raise AnalysisError(f"no finished trial with test results in {', '.join(map(str, paths))} "
                            f"(statuses: {_counts(left_out)}); let the sweep finish (--resume) and rerun")
    return Results(trials, epochs, confusion, classes, [p[4] for p in parts], left_out, tuning)


def _local(location: str) -> Path:
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    if "://" in location:
        raise AnalysisError(f"{location}: the report reads a local folder; copy the run's results/ folder (and "
                            f"sweep.yaml) first, e.g. aws s3 sync {location} runs/NAME --exclude '*' "
                            f"--include 'results/*' --include sweep.yaml")
    return Path(location)


def _load_run(path: Path):
    if not path.is_dir():
        raise AnalysisError(f"{path}: no such folder; pass a sweep's run folder (RUN_DIR, e.g. runs/quickstart)")
    results = path / "results"
    if not (results / "trials.parquet").exists():
        raise AnalysisError(f"{path}: not a run folder (no results/trials.parquet); pass the folder that "
                            f"`python -m raycnn.sweep` printed as results")
    tables = {name: _read(results / f"{name}.parquet", required=name in REQUIRED) for name in TABLES}
    run = path.resolve().name
    recorded = _recorded(path)
    info = {"path": str(path), "name": run, "question": recorded.get("question"), "objectives": _objectives(recorded)}
    trials = tables["trials"]
    _require(trials, ("trial_id", "status", "arch", "dataset"), results / "trials.parquet")
    trials = trials.assign(run=run, key=run + "/" + trials["trial_id"].astype(str), dataset=_dataset_names(trials))
    epochs = tables["epochs"].assign(key=run + "/" + tables["epochs"]["trial_id"].astype(str)) \
        if len(tables["epochs"]) else pd.DataFrame(columns=["key", "epoch", "val_accuracy"])
    confusion, classes = _tests(run, trials, tables["classes"], tables["confusion"], results)
    return trials, epochs, confusion, classes, info


def _dataset_names(trials: pd.DataFrame) -> pd.Series:
    """The dataset as a reader names it: an image folder by its folder's name ("flowers17", not
    "imagefolder"), so two folders in one study are two datasets; two folders of one name by their last
    two path parts."""
    if "data.data_path" not in trials.columns:
        return trials["dataset"]
    folder = (trials["dataset"] == "imagefolder") & trials["data.data_path"].notna()
    paths = trials.loc[folder, "data.data_path"].astype(str)
    names = {p: Path(p).name for p in paths.unique()}
    if len(set(names.values())) < len(names):
        names = {p: "/".join(Path(p).parts[-2:]) for p in names}
    return trials["dataset"].astype(object).where(~folder, trials["data.data_path"].astype(str).map(names))


def _read(path: Path, required: bool) -> pd.DataFrame:
    if not path.exists():
        if not required:                   # epochs: no learning curves; classes: numbered class names
            return pd.DataFrame(columns=["trial_id"])
        raise AnalysisError(f"{path} is missing; the run folder is incomplete (copy the whole results/ folder)")
    try:
        return pd.read_parquet(path)
    except Exception as err:
        raise AnalysisError(f"{path} cannot be read ({type(err).__name__}: {str(err)[:120]}); "
                            f"it may be truncated: copy it again, or rerun the sweep with --resume") from None


def _require(table: pd.DataFrame, columns, path: Path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise AnalysisError(f"{path} lacks column(s) {', '.join(missing)}; it was not written by raycnn.sweep")


def _tests(run: str, trials, classes: pd.DataFrame, confusion: pd.DataFrame, results: Path):
    """Per trial: the confusion matrix; per dataset: the class names."""
    if len(classes):
        _require(classes, ("trial_id", "class_index", "class_name"), results / "classes.parquet")
        classes = classes.drop_duplicates(["trial_id", "class_index"], keep="last")
    if len(confusion):
        _require(confusion, ("trial_id", "true_class", "pred_class", "count"), results / "confusion.parquet")
        # read while the sweep compacts its test files, a cell can be in two files for a moment
        confusion = confusion.drop_duplicates(["trial_id", "true_class", "pred_class"], keep="last")
    dataset_of = dict(zip(trials["trial_id"].astype(str), trials["dataset"]))
    names: dict[str, tuple[str, ...]] = {}
    for trial_id, rows in classes.groupby("trial_id"):
        ordered = rows.sort_values("class_index")
        names.setdefault(dataset_of.get(str(trial_id), "?"), tuple(str(n) for n in ordered["class_name"]))
    matrices = {}
    for trial_id, rows in confusion.groupby("trial_id"):
        size = int(max(rows["true_class"].max(), rows["pred_class"].max())) + 1
        matrix = np.zeros((size, size), dtype=np.int64)
        np.add.at(matrix, (rows["true_class"].to_numpy(int), rows["pred_class"].to_numpy(int)),
                  rows["count"].to_numpy(np.int64))
        if matrix.sum() > 0:
            matrices[f"{run}/{trial_id}"] = matrix
    for dataset in set(dataset_of.values()) - set(names):     # no classes table: numbered classes
        sizes = [len(m) for k, m in matrices.items() if dataset_of.get(k.split("/", 1)[1]) == dataset]
        if sizes:
            names[dataset] = tuple(str(i) for i in range(max(sizes)))
    return matrices, names


def _normalize(trials: pd.DataFrame) -> pd.DataFrame:
    """Columns every step relies on, filled where an older or hand-made table lacks them."""
    defaults = {"augment": "none", "kernel_size": 3, "seed": 0, "stop_reason": None, "epochs_completed": None,
                "best_val_accuracy": None, "test_accuracy": None, "params": None, "train_seconds": None,
                "images_per_second": None, "trial_name": None}
    for column, value in defaults.items():
        if column not in trials.columns:
            trials[column] = value
    trials["trial_name"] = trials["trial_name"].fillna(trials["trial_id"].astype(str))
    trials["budget"] = [_budget(row) for row in trials.to_dict("records")]
    return trials


def _budget(row: dict) -> str:
    """'full' for a trial that ran to its own end; 'epoch N' for one a scheduler stopped after N epochs."""
    reason = row.get("stop_reason")
    stopped = row.get("status") == "early_stopped" and reason != "patience"
    epochs = row.get("epochs_completed")
    if stopped and epochs is not None and not (isinstance(epochs, float) and math.isnan(epochs)):
        return f"epoch {int(epochs)}"
    return "full"


def _objectives(recorded: dict) -> list[str]:
    """A tuned sweep's objectives (accuracy, then costs) as RUN_DIR/sweep.yaml records them; [] otherwise."""
    tune = recorded.get("tune")
    found = tune.get("objectives") if isinstance(tune, dict) else None
    return [str(o) for o in found] if isinstance(found, list) else []


def _recorded(path: Path) -> dict:
    """RUN_DIR/sweep.yaml, or {} where it is missing or unreadable (context only: the tables suffice)."""
    sweep = path / "sweep.yaml"
    if not sweep.exists():
        return {}
    try:
        import yaml

        found = yaml.safe_load(sweep.read_text())
        return found if isinstance(found, dict) else {}
    except Exception:
        return {}


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"


def factor_columns(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Columns that tell configurations apart within these trials (besides arch, dataset, seed).

    Columns that always change together (augment.class_preset with augment.classes) are one factor,
    named "a+b" with values "x / y": apart, neither would have a matched pair."""
    tuned = set()          # tuned per cell (a tuned comparison): not a factor, each cell has its own best
    for text in trials["tuned"].dropna() if "tuned" in trials.columns else []:
        tuned |= set(json.loads(text))
    found = [c for c, key in (("augment", "augment.preset"), ("kernel_size", "model.kernel_size")) if key not in tuned]
    for column in sorted(c for c in trials.columns if "." in c and c not in REDUNDANT | NOT_FACTORS | tuned):
        if trials[column].map(value_text).nunique() > 1:
            found.append(column)
    merged: list[list[str]] = []
    for column in found:
        partner = next((group for group in merged if group[0] not in ("augment", "kernel_size")
                        and _same_partition(trials, group[0], column)), None)
        if partner is None:
            merged.append([column])
        else:
            partner.append(column)
    trials = trials.copy()
    for group in (g for g in merged if len(g) > 1):
        trials["+".join(group)] = trials[group].apply(lambda r: " / ".join(value_text(v) for v in r), axis=1)
    return trials, ["+".join(group) for group in merged]


def short(column: str) -> str:
    """A factor's name without sections: augment.class_preset+augment.classes -> class_preset+classes."""
    return "+".join(part.split(".", 1)[-1] for part in column.split("+"))


def _same_partition(trials: pd.DataFrame, first: str, second: str) -> bool:
    a, b = trials[first].map(value_text), trials[second].map(value_text)
    return len(set(zip(a, b))) == a.nunique() == b.nunique()


def value_text(value) -> str:
    """A config value as text, for grouping and labels (None and NaN alike)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "None"
    return str(value)
