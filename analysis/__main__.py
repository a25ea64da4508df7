"""Comparison report and weak-class findings from sweep results.

    python -m analysis RUN_DIR [RUN_DIR ...] [--out DIR]   # report.md, report.html, figures/, findings.json
    python -m analysis suggest RUN_DIR [-o FILE]           # a follow-up sweep that targets the weak classes

Reads only RUN_DIR/results/*.parquet (and sweep.yaml for context). Bad input: one line, exit 2.
`suggest` with no class that passes the weak-class test writes nothing, says so in one line, exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.load import AnalysisError, load_runs


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise AnalysisError(f"{message} (see python -m analysis --help)")


def report_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m analysis", description="Comparison report and weak-class findings.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="sweep run folder(s); several are merged")
    parser.add_argument("--out", type=Path, help="report folder (default: RUN_DIR/report for one run, "
                                                 "./report for several)")
    return parser


def suggest_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m analysis suggest", description="Write a follow-up sweep for the weak classes.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--output", type=Path, help="sweep file to write (default: print it)")
    parser.add_argument("--name", help="the follow-up sweep's name (default: <run>-followup)")
    return parser


def run(argv: list[str]) -> int:
    if argv[:1] == ["suggest"]:
        from analysis.suggest import NothingToTarget, suggest

        args = suggest_parser().parse_args(argv[1:])
        try:
            text = suggest(load_runs(args.runs), args.name)
        except NothingToTarget as err:
            print(f"{err}", file=sys.stderr)
            return 1
        if args.output is None:
            print(text, end="")
        else:
            args.output.write_text(text)
            print(f"wrote {args.output}; check it with: python -m raycnn.sweep {args.output} --dry-run")
        return 0
    from analysis.report import write_report
    from analysis.answer import summary

    args = report_parser().parse_args(argv)
    out = args.out or (Path(args.runs[0]) / "report" if len(args.runs) == 1 else Path("report"))
    found = write_report(load_runs(args.runs), out)
    for line in summary(found)[:12]:
        print(line)
    for line in found["cannot_conclude"]:
        print(f"note: {line}")
    print(f"report: {out / 'report.html'} (and report.md, findings.json, figures/)")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except AnalysisError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
