"""One long-lived interpreter that runs a CLI's main() for many tests: the checks that stop a command before
any work (bad files, refused folders, dry runs), `python -m raycnn.train` runs and `python -m analysis`
reports cost their own work each instead of an interpreter's start with torch's (or pandas' and
matplotlib's) import. It also says whether Ray was imported, so a test can check that a refusal came
before Ray. Commands that start Ray run as real processes in their own tests, and one test runs
`python -m raycnn.train` as a process of its own (test_cli)."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys

from conftest import REPO

SERVE = r"""
import contextlib, importlib, io, json, os, sys, traceback
for line in sys.stdin:
    ask = json.loads(line)
    out, err = io.StringIO(), io.StringIO()
    os.chdir(ask["cwd"])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = importlib.import_module(ask["module"]).main(ask["args"])
        except SystemExit as done:                      # argparse's own errors
            code = done.code if isinstance(done.code, int) else int(done.code is not None) * 2
        except BaseException:
            traceback.print_exc()
            code = 1
    ray = "RAY-IMPORTED" if "ray" in sys.modules else "NO-RAY"
    answer = json.dumps({"code": code, "out": out.getvalue() + ray + "\n", "err": err.getvalue()})
    print("@@answer@@" + answer, flush=True)
"""


class CliProcess:
    """`run(module, *args, cwd=...)` -> subprocess.CompletedProcess, as `python -m module args` would give."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})

    def run(self, module: str, *args: str, cwd=REPO) -> subprocess.CompletedProcess:
        self.process.stdin.write(json.dumps({"module": module, "args": [str(a) for a in args], "cwd": str(cwd)}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        while line and not line.startswith("@@answer@@"):       # anything written past the redirection
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the CLI process ended while running {module} {' '.join(map(str, args))}")
        answer = json.loads(line[len("@@answer@@"):])
        return subprocess.CompletedProcess([module, *args], answer["code"], answer["out"], answer["err"])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


_SHARED: list[CliProcess] = []


def run_cli(module: str, *args: str, cwd=REPO) -> subprocess.CompletedProcess:
    """`python -m module ARGS` through this test worker's one CLI process (started on first use). Every
    command sent to it stops before Ray, so its NO-RAY holds for each of them."""
    if not _SHARED:
        _SHARED.append(CliProcess())
        atexit.register(_SHARED[0].close)
    return _SHARED[0].run(module, *args, cwd=cwd)
