"""What the command-line tools share: one-line errors with exit code 2, and Ctrl-C handling."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from raycnn.errors import RaycnnError, is_out_of_memory


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line and exit code 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def run_cli(run: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    """Run a CLI body: user errors become `error: ...` on stderr and exit code 2, never a traceback."""
    try:
        return run(argv)
    except RaycnnError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; continue with the same command plus --resume", file=sys.stderr)
        return 130
    except RuntimeError as err:
        if not is_out_of_memory(err):
            raise
        print(f"error: out of memory ({' '.join(str(err).split())[:200]}); lower --batch-size, --image-size "
              f"or the model's size", file=sys.stderr)
        return 2
