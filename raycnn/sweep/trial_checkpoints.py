"""A sweep trial's own checkpoints in RUN_DIR/checkpoints/<trial id>/ (Ray-free; a folder or a bucket):

    epoch-00009/, epoch-00010/    last.pt, best.pt, test_at_best.json: the newest two are kept
    owner                         the attempt that may write here (a newer one takes over)

A checkpoint folder appears whole on a disk (copied under a hidden name, fsync'd, renamed); on a bucket
it is copied file by file, and one cut off mid-copy fails to read back. Restoring takes the newest that
reads back and names every one passed over, so a torn checkpoint costs one epoch, not the trial.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from raycnn import checkpoint as ckpt
from raycnn.sweep.storage import CHECKPOINTS, RunStorage

KEEP = 2          # the newest, and the one before it in case the newest does not read back
OWNER = "owner"


class Superseded(RuntimeError):
    """A newer attempt of this trial has started (this one's driver or node was cut off): stop writing."""


class TrialCheckpoints:
    def __init__(self, run_dir: str, trial_id: str):
        self.storage = RunStorage(run_dir)
        self.folder = f"{CHECKPOINTS}/{trial_id}"
        self.attempt: str | None = None

    def claim(self) -> None:
        """Make this attempt the one that writes the trial's checkpoints from now on."""
        self.attempt = uuid.uuid4().hex
        self.storage.write_text(f"{self.folder}/{OWNER}", self.attempt)

    def save(self, local: Path, epoch: int) -> None:
        """Copy an epoch's checkpoint folder into RUN_DIR, then drop all but the newest KEEP. An attempt
        that has claimed the trial and lost it to a newer one raises Superseded instead."""
        if self.attempt is not None and self.storage.read_text(f"{self.folder}/{OWNER}") != self.attempt:
            raise Superseded(f"{self.folder}: a newer attempt of this trial is running; this one stops")
        self.storage.put_folder(local, f"{self.folder}/epoch-{epoch:05d}")
        for name in self.storage.list_folders(self.folder)[:-KEEP]:
            self.storage.delete_folder(f"{self.folder}/{name}")

    def restore(self, local: Path) -> tuple[bool, list[str]]:
        """Copy the newest checkpoint that reads back into `local`; none does: start over (`local` absent).
        Returns (resumed, warnings: one line naming what was passed over)."""
        self.storage.remove_partial_folders(self.folder)       # what a killed copy left
        bad = []
        for name in reversed(self.storage.list_folders(self.folder)):
            shutil.rmtree(local, ignore_errors=True)
            where = self.storage.path(f"{self.folder}/{name}")
            try:
                self.storage.get_folder(f"{self.folder}/{name}", local)
                ckpt.check_readable(local)
            except ckpt.UnreadableCheckpoint as err:
                bad.append(f"{where}/{err.path.name} is unreadable ({err.reason})")
                continue
            except OSError as err:                             # gone, or its download failed
                bad.append(f"{where} cannot be read ({err})")
                continue
            return True, [f"{', '.join(bad)}; continued from {where}"] if bad else []
        shutil.rmtree(local, ignore_errors=True)
        return False, [f"{', '.join(bad)}; no readable checkpoint left, started over from epoch 1"] if bad else []
