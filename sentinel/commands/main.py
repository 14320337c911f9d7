"""The `sentinel` command line (contract section 6): parse arguments, load files, call in.

Every user mistake ends as one clear message on standard error and an exit code; never a
traceback. Exit codes: replay 0 clean / 1 problems / 2 bad usage or files; check 0 / 1 / 2;
report 0 written / 2 bad usage or files; alerts test 0 all sinks took the test alert / 1 one
did not / 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NoReturn

from sentinel import __version__
from sentinel.commands.logfile import open_log
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.limits import Limits
from sentinel.core.engine.tracing import DEFAULT_TRACING
from sentinel.core.engine.writer_schemas import WriterLookup
from sentinel.core.errors import ExpectationFileError, SchemaDirError, SentinelError, UsageError
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.replay import Fetch, replay_lines
from sentinel.core.rules.graph import to_dot, to_mermaid
from sentinel.core.rules.loader import LoadedExpectations, load_expectations
from sentinel.core.timefmt import parse_rfc3339
from sentinel.speed import tune_gc
from sentinel.status.timeline import Timeline

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
REPLAY_BATCH = 500


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sentinel",
        description="Watches choreographed rollouts and reports the moment one stalls.",
    )
    parser.add_argument("--version", action="version", version=f"sentinel {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="validate expectation files (and schemas)")
    check.add_argument("--schemas", metavar="DIR", help="schema directory to validate too")
    check.add_argument(
        "--registry", metavar="URL", help="a schema registry: is there a writer schema per step?"
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="expectation files or folders")

    replay_cmd = commands.add_parser("replay", help="run an event log through the expectations")
    replay_cmd.add_argument("--expectations", metavar="PATH", action="append")
    replay_cmd.add_argument("--schemas", metavar="DIR")
    replay_cmd.add_argument(
        "--config",
        metavar="FILE",
        help="a `sentinel run` config: its expectations, schemas, engine and limits settings,"
        " so that the log is judged as `run` would judge it",
    )
    replay_cmd.add_argument(
        "--until", metavar="TIME", help="RFC 3339: move the clock here at the end"
    )
    replay_cmd.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    replay_cmd.add_argument(
        "--registry", metavar="URL", help="the schema registry for events that name a schemaid"
    )
    replay_cmd.add_argument("log", metavar="FILE|-", help="JSON lines, one event per line")

    graph = commands.add_parser("graph", help="draw each expectation's step graph")
    graph.add_argument("paths", nargs="+", metavar="PATH")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")

    run = commands.add_parser("run", help="the live watcher on Kafka")
    run.add_argument("--config", required=True, metavar="FILE")

    demo = commands.add_parser("demo", help="embedded broker + sentinel + a simulated rollout")
    demo.add_argument(
        "--speed", type=float, default=60.0, help="run the windows this many times faster"
    )
    demo.add_argument(
        "--for", dest="duration", type=float, metavar="SECONDS", help="stop after this long"
    )
    from sentinel.commands import alerts_command, learn_command  # noqa: PLC0415 (only when parsing)
    from sentinel.commands.report_command import add_report_arguments  # noqa: PLC0415 (only when parsing)

    learn_command.add_parser(commands)
    report = commands.add_parser(
        "report", help="the audit report of a period: from the history, or from an event log"
    )
    add_report_arguments(report)
    alerts_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    tune_gc()
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except UsageError as error:
        print(f"sentinel: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (ExpectationFileError, SchemaDirError) as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except SentinelError as error:
        print(f"sentinel: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `sentinel replay ... | head`: the reader left; nothing more to say.
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:  # a bug: one line for the user, the traceback on request
        if os.environ.get("SENTINEL_DEBUG"):
            raise
        print(
            f"sentinel: internal error: {type(error).__name__}: {error} "
            "(set SENTINEL_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check":
        return _check(args.paths, args.schemas, args.registry)
    if args.command == "replay":
        return _replay(args)
    if args.command == "graph":
        loaded = load_expectations(args.paths)
        render = to_mermaid if args.format == "mermaid" else to_dot
        sys.stdout.write(render(loaded.expectations))
        return EXIT_OK
    if args.command == "run":
        from sentinel.runtime.wiring import run_from_config  # noqa: PLC0415 (heavy imports)

        return run_from_config(Path(args.config))
    if args.command == "learn":
        from sentinel.commands.learn_command import run as run_learn  # noqa: PLC0415 (heavy imports)

        return run_learn(args)
    if args.command == "report":
        from sentinel.commands.report_command import run_report  # noqa: PLC0415 (heavy imports)

        return run_report(args, read_history)
    if args.command == "alerts":
        from sentinel.commands.alerts_command import run as run_alerts  # noqa: PLC0415 (heavy imports)

        return run_alerts(args)
    from sentinel.commands.demo_command import run_demo  # noqa: PLC0415 (heavy imports)

    return run_demo(speed=args.speed, duration_s=args.duration)


def read_history(path: Path) -> Iterator[dict[str, Any]]:
    """The full rollouts of a state file's history (`sentinel report --state`)."""
    from sentinel.status.api_json import full  # noqa: PLC0415 (only for a report)
    from sentinel.store.history_table import read_file  # noqa: PLC0415 (only for a report)

    for entry in read_file(path):
        yield full(entry.view, entry.findings)


def _check(paths: Sequence[str], schemas_dir: str | None, registry_url: str | None) -> int:
    problems: list[str] = []
    loaded: LoadedExpectations | None = None
    try:
        loaded = load_expectations(paths)
    except ExpectationFileError as error:
        problems.extend(error.problems)
    if schemas_dir is not None:
        try:
            registry = SchemaRegistry.load(schemas_dir)
        except SchemaDirError as error:
            problems.extend(error.problems)
        else:
            if loaded is not None:
                for exp in loaded.expectations:
                    for event_type in sorted(exp.event_types - registry.types):
                        print(
                            f"{exp.origin}: warning: {event_type} has no schema in "
                            f"{schemas_dir}; its events will be reported as unregistered",
                            file=sys.stderr,
                        )
    if loaded is not None:
        for warning in loaded.warnings:
            print(warning, file=sys.stderr)
        if registry_url is not None:
            from sentinel.commands.registry_tools import check_registry  # noqa: PLC0415 (aiohttp)

            lines = check_registry(registry_url, loaded.expectations, schemas_dir)
            for line in lines:
                print(line, file=sys.stderr)
            problems += [line for line in lines if line.startswith("registry: cannot")]
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    assert loaded is not None
    count = len(loaded.expectations)
    print(f"ok: {count} expectation(s) in {len(loaded.files)} file(s)", file=sys.stderr)
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    until = None
    if args.until is not None:
        try:
            until = parse_rfc3339(args.until)
        except ValueError:
            raise UsageError(f"--until {args.until!r} is not an RFC 3339 time") from None
    # Without a config, closed rollouts survive to the end, so the text timeline shows them.
    expectations, schemas, retention_s, limits = args.expectations, args.schemas, None, None
    tracing = DEFAULT_TRACING
    if args.config is not None:
        from sentinel.config import load_config  # noqa: PLC0415 - the whole config, only then

        config = load_config(args.config)
        for warning in config.warnings:
            print(warning, file=sys.stderr)
        expectations = expectations or [config.expectations]
        schemas = schemas or config.schemas
        retention_s, limits = config.engine.closed_retention, config.limits
        tracing = config.tracing.options
    if not expectations or schemas is None:
        raise UsageError("replay needs --expectations and --schemas, or --config FILE")
    loaded = load_expectations(expectations)
    registry = SchemaRegistry.load(schemas)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    engine = Engine(
        loaded.expectations,
        registry,
        retention_s=float("inf") if retention_s is None else retention_s,
        limits=limits or Limits(),
        tracing=tracing,
    )
    # A file is read in batches; standard input line by line, so that each finding comes
    # out as soon as its line is in (the log may still be being written).
    batch = 1 if args.log == "-" else REPLAY_BATCH
    with open_log(args.log, "replay") as log, _writers(args.registry, engine) as writers:
        findings = replay_lines(
            log, engine, read_at=time.time, until=until, batch=batch, writers=writers
        )
        problems = _write(findings, engine, args.format, sys.stdout)
    return EXIT_PROBLEMS if problems else EXIT_OK


@contextmanager
def _writers(url: str | None, engine: Engine) -> Iterator[tuple[WriterLookup, Fetch] | None]:
    """With --registry, events are held to their writer schemas too (contract section 10)."""
    if url is None:
        yield None
        return
    from sentinel.commands.registry_tools import registry_writers  # noqa: PLC0415 (aiohttp)

    known = {t for exp in engine.expectations.values() for t in exp.event_types}
    with registry_writers(url, known) as writers:
        yield writers


def _write(findings: Iterator[Finding], engine: Engine, fmt: str, out: IO[str]) -> bool:
    """Write findings as they come (jsonl) or as one report at the end (text)."""
    problems = False
    timeline = Timeline()
    for finding in findings:
        problems = problems or finding.is_problem
        if fmt == "jsonl":
            out.write(finding.to_json_line())
        else:
            timeline.add(finding)
    if fmt == "text":
        views = [
            view
            for name, by_key in engine.rollouts.items()
            for key in by_key
            if (view := engine.view(name, key)) is not None
        ]
        out.write(timeline.render(views, engine.clock))
    out.flush()
    return problems
