"""Stopping a sweep cleanly: Ctrl-C (SIGINT), SIGTERM (what a cluster scheduler or `kill` sends), or a
full disk. The first one asks Ray Tune to stop as it does on its own interrupt (tune_bridge.stop_tune): running
trials are stopped (each continues from its last epoch's checkpoint on `--resume`), Tune saves its
experiment state and the result tables are written, with those trials marked `interrupted`. A second
Ctrl-C or SIGTERM quits at once (KeyboardInterrupt): nothing already checkpointed is lost either way.
"""

from __future__ import annotations

import signal
import sys
import threading

from raycnn.sweep.tune_bridge import stop_tune

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_reason: list[str] = []          # why the sweep was asked to stop, once it was
_previous: dict[int, object] = {}


def install() -> None:
    """Handle SIGINT and SIGTERM in this (main) thread; call after ray.init, which sets its own."""
    _reason.clear()
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        _previous[sig] = signal.getsignal(sig)
        signal.signal(sig, _on_signal)


def uninstall() -> None:
    for sig, handler in _previous.items():
        signal.signal(sig, handler)
    _previous.clear()


def stop_reason() -> str | None:
    return _reason[0] if _reason else None


def request_stop(reason: str) -> bool:
    """Ask the running Tune experiment to stop after its current step; False when none is running."""
    if not _reason:
        _reason.append(reason)
    return stop_tune()


def _on_signal(signum, frame) -> None:
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    if _reason:
        raise KeyboardInterrupt           # the second one: quit now
    if not request_stop(name):
        raise KeyboardInterrupt           # before or after Tune's loop: nothing to wait for
    print(f"raycnn: {name}: stopping; running trials keep their last checkpoint and the tables are written "
          f"(press Ctrl-C again to quit at once)", file=sys.stderr, flush=True)
