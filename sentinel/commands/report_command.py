"""`sentinel report`: the arguments and the run, for `sentinel.commands.main` to mount. The report
comes from the store's history (`--state`, read by a function the caller passes in) or from
replaying an event log (`--log`, with the expectations and schemas)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sentinel.commands.logfile import open_log
from sentinel.core.engine.limits import Limits
from sentinel.core.errors import UsageError
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.loader import load_expectations
from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.from_log import report_from_log
from sentinel.status.period import Period
from sentinel.status.report import FORMATS, build_report, render_report

# Full rollouts (the API's `full()` shape) kept in a state file's history table.
HistoryReader = Callable[[Path], Iterable[dict[str, Any]]]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `sentinel report` (contract section 11)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state", metavar="FILE", help="the state file: its history")
    source.add_argument(
        "--log", metavar="FILE|-", help="an event log (JSON lines) to replay; - reads stdin"
    )
    parser.add_argument(
        "--expectations", metavar="PATH", action="append", help="with --log: expectation files"
    )
    parser.add_argument("--schemas", metavar="DIR", help="with --log: the schema directory")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="with --log: a `sentinel run` config, for its expectations, schemas and limits",
    )
    parser.add_argument("--from", dest="start", metavar="TIME", help="RFC 3339: opened from")
    parser.add_argument("--to", dest="end", metavar="TIME", help="RFC 3339: opened before")
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")


def run_report(args: argparse.Namespace, read_history: HistoryReader | None = None) -> int:
    """Build and write the report; 0 when written. Mistakes raise UsageError (exit 2)."""
    period = _period(args.start, args.end)
    if args.log is not None:
        expectations, schemas, limits = args.expectations, args.schemas, Limits()
        if args.config is not None:
            from sentinel.config import load_config  # noqa: PLC0415 - the whole config, only then

            config = load_config(args.config)
            for warning in config.warnings:
                print(warning, file=sys.stderr)
            expectations = expectations or [config.expectations]
            schemas = schemas or config.schemas
            limits = config.limits
        if not expectations or not schemas:
            raise UsageError("--log needs --expectations PATH and --schemas DIR, or --config FILE")
        loaded = load_expectations(expectations)
        for warning in loaded.warnings:
            print(warning, file=sys.stderr)
        registry = SchemaRegistry.load(schemas)
        with open_log(args.log, "report") as log:
            rollouts = report_from_log(
                log, loaded.expectations, registry, period, read_at=time.time, limits=limits
            )
        source = (
            "replay of standard input" if args.log == "-" else f"replay of {Path(args.log).name}"
        )
    else:
        if args.expectations or args.schemas or args.config:
            raise UsageError("--expectations, --schemas and --config go with --log, not --state")
        if read_history is None:
            raise UsageError("--state is not supported by this build; use --log")
        rollouts = list(read_history(Path(args.state)))
        source = f"history of {Path(args.state).name}"
    text = render_report(build_report(rollouts, period, source), args.format)
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror}") from None
    return 0


def _period(start: str | None, end: str | None) -> Period:
    try:
        return Period(_time("--from", start), _time("--to", end))
    except ValueError as error:
        raise UsageError(f"--from and --to: {error}") from None


def _time(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an RFC 3339 time") from None
