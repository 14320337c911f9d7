"""`sentinel alerts test --config FILE [--sink NAME]`: one test alert to each configured sink,
planned by the sink's own `plan`, marked as a test its own way (`Sink.mark_test`) and sent by its
own transport, once, and a line per sink saying what it answered. Nothing is kept: the
deliveries go through a scratch outbox in memory, never the state file's.

Exit codes: 0 every sink took its test alert, 1 one did not, 2 bad usage, a bad config file or
a config with no sink to test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentinel.alerting.delivery import DeliveryError, RetryLater
from sentinel.alerting.drill import drill_finding, plan_drill
from sentinel.alerting.settings import AlertingSettings, SinkSettings
from sentinel.alerting.sinks import sink_of
from sentinel.core.durations import format_duration
from sentinel.core.errors import UsageError
from sentinel.core.ports.outbox import Outbox, Thread
from sentinel.store.sqlite_outbox import SqliteOutbox

EXIT_OK, EXIT_FAILED = 0, 1
# However a transport's own timeout goes, a sink that has not answered by then has failed.
GIVE_UP_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one sink did with its test alert."""

    sink: str
    ok: bool
    answer: str  # what it answered: an HTTP status, Slack's error code or the message's ts


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `alerts test` to the `sentinel` command line."""
    alerts = commands.add_parser("alerts", help="the alert sinks of a config: send a test alert")
    actions = alerts.add_subparsers(
        dest="alerts_command", metavar="test", required=True, parser_class=type(alerts)
    )
    test = actions.add_parser(
        "test",
        help="send one alert marked as a test to each configured sink; exit 1 if one fails",
        description="Sends one alert, marked as a test, to each sink of the config's alerting:"
        " section (or to --sink NAME), through the sink's own delivery code, once, and prints"
        " what each answered. Exit 0 when every sink took it, 1 when one did not.",
    )
    test.add_argument("--config", required=True, metavar="FILE", help="a `sentinel run` config")
    test.add_argument("--sink", metavar="NAME", help="only this sink (its name in /readyz)")


def run(args: argparse.Namespace) -> int:
    from sentinel.config import load_config  # noqa: PLC0415 - the whole config, only then

    config = load_config(args.config)
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    alerting = config.alerting
    if alerting is None or not alerting.sinks:
        raise UsageError(
            f"{Path(args.config)} configures no alert sink (its alerting: section names none):"
            " there is nothing to test"
        )
    chosen = _chosen(alerting.sinks, args.sink)
    outcomes = asyncio.run(send_tests(chosen, alerting, SqliteOutbox(":memory:"), time.time))
    width = max(len(outcome.sink) for outcome in outcomes)
    for outcome in outcomes:
        state = "OK" if outcome.ok else "FAILED"
        print(f"{outcome.sink:<{width}}  {state:<6}  {outcome.answer}")
    return EXIT_OK if all(outcome.ok for outcome in outcomes) else EXIT_FAILED


def _chosen(configured: Sequence[SinkSettings], name: str | None) -> Sequence[SinkSettings]:
    if name is None:
        return configured
    chosen = [settings for settings in configured if settings.name == name]
    if not chosen:
        names = ", ".join(settings.name for settings in configured)
        raise UsageError(f"--sink {name!r} is not a configured sink; the config has: {names}")
    return chosen


async def send_tests(
    sinks: Sequence[SinkSettings],
    alerting: AlertingSettings,
    outbox: Outbox,
    clock: Callable[[], float],
) -> list[Outcome]:
    """A test alert to each sink, all at once; the outcomes in the order of `sinks`."""
    sending = (send_test(settings, alerting, outbox, clock()) for settings in sinks)
    return list(await asyncio.gather(*sending))


async def send_test(
    settings: SinkSettings, alerting: AlertingSettings, outbox: Outbox, now: float
) -> Outcome:
    """The sink's plan of the test finding, marked, delivered once by its transport (no retry:
    a 429 is a failure that says when to try again); never raises."""
    name = settings.name
    try:
        sink = sink_of(settings)
        finding = drill_finding(now)
        destination = sink.destination(settings, finding)
        plan = plan_drill(sink.plan, destination, finding, alerting, name)
        items = [sink.mark_test(settings, item, now) for item in plan.items]
        if not items:
            return Outcome(name, False, "its plan made no delivery of the test alert")
        with outbox.transaction():  # where the Slack bot writes the message's ts once posted
            for key, thread in plan.threads.items():
                outbox.save_thread(name, key, thread)
        transport = sink.transport(settings)
        try:
            async with asyncio.timeout(GIVE_UP_AFTER):
                for item in items:
                    await transport.deliver(item, outbox, now)
        finally:
            await transport.aclose()
    except RetryLater as error:
        return Outcome(name, False, f"{error.reason}; retry after {format_duration(error.after)}")
    except DeliveryError as error:
        return Outcome(name, False, error.reason)
    except TimeoutError:
        return Outcome(name, False, f"no answer within {format_duration(GIVE_UP_AFTER)}")
    except Exception as error:  # a bug: one line, like every other failure
        return Outcome(name, False, f"internal error: {type(error).__name__}: {error}")
    return Outcome(name, True, _answer(transport, outbox, name, plan.threads))


def _answer(transport: object, outbox: Outbox, sink: str, threads: Mapping[str, Thread]) -> str:
    """What the sink answered: the transport's `answer` when it keeps one (an HTTP status),
    else the ts of the message its thread now points at (the Slack bot), else `delivered`."""
    answer = getattr(transport, "answer", None)
    if isinstance(answer, str) and answer:
        return answer
    for key in threads:
        thread = outbox.thread(sink, key)
        if thread is not None and thread.ts is not None:
            return f"ts {thread.ts} in {thread.channel}"
    return "delivered"
