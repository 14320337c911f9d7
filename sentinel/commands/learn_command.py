"""`sentinel learn`: the command line around the learner (contract section 12).

Reads the log (a file, standard input, or the configured Kafka topics from `--since` ago),
writes the proposed files (to `--output` or standard output) and the summary (standard
error). With `--against`, the differences go to standard output and the exit code is 1 when
there is one. Exit 2 on bad usage, as every command.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from sentinel.commands.logfile import open_log
from sentinel.core.durations import parse_duration
from sentinel.core.errors import SentinelError, UsageError
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.replay import read_lines
from sentinel.core.rules.expectations import Expectation
from sentinel.core.rules.loader import load_expectations
from sentinel.learning.learner import Learner, LearnOptions
from sentinel.learning.model import LearnResult
from sentinel.learning.render import render, render_all
from sentinel.learning.summary import report, summary

EXIT_OK, EXIT_DIFFERENCES = 0, 1
# A file that starts with this was written by `sentinel learn`: another run may replace it.
_OURS = b"# Proposed by `sentinel learn`"


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `learn` to the `sentinel` command line."""
    learn = commands.add_parser(
        "learn",
        help="propose expectation files from an event log, or compare yours with it",
        description="Reads an event log and proposes the expectations that describe it;"
        " with --against, says where existing expectation files and the log disagree.",
    )
    learn.add_argument(
        "log", nargs="?", metavar="FILE|-", help="JSON lines, one event per line (- for stdin)"
    )
    learn.add_argument(
        "--correlate", metavar="PATH", help="the rollout key's path (default: found in the log)"
    )
    learn.add_argument(
        "--min-support",
        type=float,
        default=0.95,
        metavar="RATIO",
        help="share of the rollouts with both steps in which one must come first (0.95)",
    )
    learn.add_argument(
        "--against",
        metavar="PATH",
        action="append",
        help="expectation files or folders to compare with the log; exit 1 on a difference",
    )
    learn.add_argument("--output", metavar="DIR", help="write one file per expectation here")
    learn.add_argument("--config", metavar="FILE", help="read the topics of this run config")
    learn.add_argument(
        "--since", metavar="DURATION", help="with --config: how far back to read (e.g. 7d)"
    )


def run(args: argparse.Namespace) -> int:
    """Carry out `sentinel learn`; 0, or 1 when --against found a difference."""
    options = _options(args)
    learner = Learner(options)
    if args.config is not None:
        _read_kafka(args, learner)
    else:
        with open_log(args.log, "learn") as log:
            learner.feed(read_lines(log))
    result = learner.finish()
    for line in summary(result):
        print(line, file=sys.stderr)
    if args.output is not None:
        _write_files(result, Path(args.output))
    elif not args.against:
        sys.stdout.write(render_all(result.expectations))
    if args.against:
        for line in report(result.comparisons):
            print(line)
    sys.stdout.flush()
    return EXIT_DIFFERENCES if result.differences else EXIT_OK


def _options(args: argparse.Namespace) -> LearnOptions:
    if args.config is None and args.log is None:
        raise UsageError(
            "learn: give an event log (FILE, or - for standard input), or --config FILE"
            " --since DURATION to read Kafka"
        )
    if args.config is not None and args.log is not None:
        raise UsageError("learn: give an event log or --config, not both")
    if args.since is not None and args.config is None:
        raise UsageError("learn: --since reads Kafka: give --config FILE as well")
    if args.config is not None and args.since is None:
        raise UsageError("learn: --config reads Kafka from a point in time: add e.g. --since 7d")
    if not 0.5 < args.min_support <= 1:
        raise UsageError(
            f"learn: --min-support {args.min_support}: give a share above 0.5 and at most 1,"
            " e.g. 0.95"
        )
    correlate = args.correlate
    if correlate is not None and (not correlate or any(not part for part in correlate.split("."))):
        raise UsageError(
            f"learn: --correlate {correlate!r}: give a dotted path, e.g. data.rollout_id"
        )
    against: tuple[Expectation, ...] = ()
    if args.against:
        against = load_expectations(args.against).expectations
    return LearnOptions(correlate, args.min_support, against)


def _read_kafka(args: argparse.Namespace, learner: Learner) -> None:
    # Imported here: the config and Kafka client are heavy, and only this path needs them.
    from sentinel.config import load_config  # noqa: PLC0415
    from sentinel.kafka.backfill import read_history  # noqa: PLC0415

    try:
        seconds = parse_duration(args.since)
    except ValueError as error:
        raise UsageError(f"learn: --since: {error}") from None
    settings = load_config(args.config).kafka
    since_ms = round((time.time() - seconds) * 1000)

    # Framed or not (a registry's id in front), only the event's type and data matter here.
    decoder = BusDecoder(registry=True)

    async def read() -> None:
        async for record in read_history(settings, since_ms):
            learner.add(decoder.decode(record))

    asyncio.run(read())


def _write_files(result: LearnResult, folder: Path) -> None:
    """One file per expectation; a file this command did not write is never replaced."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"learn: --output {folder}: {error.strerror}") from None
    targets = {folder / f"{exp.name}.yaml": exp for exp in result.expectations}
    for target in targets:
        if target.exists() and not _ours(target):
            raise UsageError(
                f"learn: {target} exists and was not written by sentinel learn; move it, or"
                " choose another --output"
            )
    for target, exp in targets.items():
        target.write_text(render(exp), encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
    if targets:
        # The files are meant for `sentinel check`: a file it refuses is a bug, said now.
        try:
            load_expectations(list(targets))
        except SentinelError as error:
            raise AssertionError(
                f"sentinel learn wrote a file that does not check: {error}"
            ) from error


def _ours(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(_OURS)) == _OURS
    except OSError:
        return False
