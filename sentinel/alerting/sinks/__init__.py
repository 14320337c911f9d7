"""Every kind of sink the `alerting:` section can name, in one list. A sink is one module here
that exports one `Sink` record (`base.py`), and one line in SINKS: the config, the router and
the alerter read this list and nothing else, so a new sink needs no other change."""

from __future__ import annotations

from typing import Any

from sentinel.alerting.settings import SinkSettings
from sentinel.alerting.sinks import alertmanager, pagerduty, slack, slack_webhook, teams, webhook
from sentinel.alerting.sinks.base import Sink

# In the order of the sinks' sections in the docs, of /readyz and of AlertingSettings.sinks.
SINKS: tuple[Sink[Any], ...] = (
    slack.SINK,
    slack_webhook.SINK,
    webhook.SINK,
    alertmanager.SINK,
    pagerduty.SINK,
    teams.SINK,
)


def sink_of(settings: SinkSettings) -> Sink[Any]:
    """The sink whose settings these are."""
    for sink in SINKS:
        if type(settings) is sink.settings:
            return sink
    raise LookupError(f"{type(settings).__name__} is the settings of no sink in SINKS")
