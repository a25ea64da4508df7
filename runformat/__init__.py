"""The run folder's format: the result tables raycnn's sweeps write under RUN_DIR/results and that
`python -m analysis` reads, their trial columns and the words of a trial's status. Defined here once;
raycnn.sweep (the writer) and analysis (the reader) both import it, and neither imports the other (the
import contracts in pyproject.toml)."""

from __future__ import annotations

import pyarrow as pa

TABLES = ("trials", "epochs", "classes", "confusion")

# a trial's status in the trials table
PENDING, RUNNING, INTERRUPTED = "pending", "running", "interrupted"
COMPLETED, EARLY_STOPPED, DIVERGED, OOM, ERROR = "completed", "early_stopped", "diverged", "oom", "error"
ENDED = (COMPLETED, EARLY_STOPPED, DIVERGED, OOM, ERROR)   # will not run again unless the sweep retries it
FINISHED = (COMPLETED, EARLY_STOPPED)                        # ended with test results: what a report compares

TRIAL_FIELDS = {
    "trial_id": pa.string(), "trial_name": pa.string(), "status": pa.string(), "arch": pa.string(),
    "dataset": pa.string(), "augment": pa.string(), "kernel_size": pa.int64(), "seed": pa.int64(),
    "epochs_completed": pa.int64(), "best_val_accuracy": pa.float64(), "test_accuracy": pa.float64(),
    "test_loss": pa.float64(), "params": pa.int64(), "train_seconds": pa.float64(),
    "images_per_second": pa.float64(), "error": pa.string(), "stop_reason": pa.string(),
    "started_at_epoch": pa.int64(), "node_id": pa.string(), "gpu_ids": pa.string(),
    "started_at": pa.float64(), "ended_at": pa.float64(),   # Unix seconds, the driver's clock
    "restarts": pa.int64(),      # times the trial was retried from its checkpoint after its process failed
    "pid": pa.int64(),           # the trial's process on node_id (its latest attempt)
    "warning": pa.string(),      # e.g. an unreadable checkpoint passed over
    "precision": pa.string(),    # the numeric precision it trained in (fp32, bf16, fp16)
    "device_name": pa.string(),  # the GPU's or CPU's name
    "gpu_share": pa.float64(),   # its share of a GPU (Ray's resources.gpus; 1 when retried alone)
    "gpu_peak_mb": pa.float64(),  # the most its process allocated on the GPU
    "code": pa.string(),         # the user code it ran (JSON: ref, path, sha256, git_commit), if any
    "stage": pa.string(),        # tuned sweeps: tune | confirm
    "cell": pa.string(),         # tuned sweeps: the grid cell
    "tuned": pa.string()}        # tuned sweeps: JSON of the tuned keys and this trial's values
