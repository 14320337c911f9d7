"""Builds the alerter the watcher runs, from the config file and the state store it uses."""

from __future__ import annotations

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.config import parse_alerting
from sentinel.alerting.outbox import SqliteOutbox
from sentinel.app.metrics import Metrics
from sentinel.config import Config
from sentinel.configkit import Section
from sentinel.store.base import StateStore


def build_alerter(config: Config, store: StateStore, metrics: Metrics) -> Alerter:
    """The outbox lives on the store's connection, so alerts commit with the batch that raised
    them; with the memory store they live (and die) with the process."""
    settings = parse_alerting(Section(config.alerting, "alerting", str(config.source)))
    return Alerter(settings, SqliteOutbox(store.connection), metrics)
