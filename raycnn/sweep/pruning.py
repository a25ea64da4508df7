"""`CheckpointPruner`: keeps each trial's checkpoints on storage few, without Tune's `num_to_keep`.

Tune's `CheckpointConfig(num_to_keep=K)` makes Tune save its whole experiment state (every trial's
record) after each K checkpoints of any trial, to keep that record consistent with what is on disk;
with a checkpoint per epoch that is a cost per epoch that grows with the number of trials (at 300
trials it took half of the driver's time). Instead Tune keeps every checkpoint, and this callback
deletes a trial's older checkpoints once they can no longer be needed: when two of Tune's
experiment-state snapshots since (it calls `get_state` at each) have referred to a newer one, a
resume never starts from them. So each trial keeps the checkpoints of the last two snapshot periods
(Tune saves its state every 10 s or more), plus its last one.
"""

from __future__ import annotations

from collections import deque

from ray import tune

SNAPSHOTS_KEPT = 2


class CheckpointPruner(tune.Callback):
    def __init__(self):
        self.checkpoints: dict[str, deque] = {}          # trial -> its checkpoints not deleted yet, oldest first
        self.made: dict[str, int] = {}                    # trial -> checkpoints seen
        self.marks: deque[dict[str, int]] = deque()       # per snapshot: trial -> checkpoints seen by then

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        self.checkpoints.setdefault(trial.trial_id, deque()).append(checkpoint)
        self.made[trial.trial_id] = self.made.get(trial.trial_id, 0) + 1

    def get_state(self) -> None:
        self.marks.append(dict(self.made))
        if len(self.marks) <= SNAPSHOTS_KEPT:
            return None
        old = self.marks.popleft()          # the snapshot two before this one: its checkpoints are superseded
        for trial_id, seen in old.items():
            kept = self.checkpoints[trial_id]
            while self.made[trial_id] - len(kept) < seen - 1:   # checkpoints older than the one it referred to
                _delete(kept.popleft())
        return None


def _delete(checkpoint) -> None:
    try:
        checkpoint.filesystem.delete_dir(checkpoint.path)
    except (FileNotFoundError, OSError) as err:   # already gone, or storage trouble: the next one retries nothing
        print(f"raycnn: could not delete the old checkpoint {checkpoint.path} ({err}); it can be removed by hand")
