"""Metrics counted in plain numbers: the same exposition as prometheus_client's own, updated
once per kept batch."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

from sentinel.core.engine.rollout import RolloutState
from sentinel.runtime.histograms import PlainHistogram
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver


def without_creation_times(text: bytes) -> str:
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", text.decode())


def test_a_plain_histogram_is_exposed_as_a_prometheus_histogram_is() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    labelled = Histogram("wait_seconds", "Waits.", ["step"], buckets=(1, 5), registry=theirs)
    plain = Histogram("skew_seconds", "Skews.", buckets=(-1, 0, 1), registry=theirs)
    our_labelled = PlainHistogram("wait_seconds", "Waits.", ["step"], (1, 5), ours)
    our_plain = PlainHistogram("skew_seconds", "Skews.", (), (-1, 0, 1), ours)
    for value in (0.5, 1, 3, 5, 8, -2):
        labelled.labels("a").observe(value)
        our_labelled.labels("a").observe(value)
        plain.observe(value)
        our_plain.observe(value)
    for exposition in (generate_latest, openmetrics):
        assert without_creation_times(exposition(ours)) == without_creation_times(
            exposition(theirs)
        )


@given(st.lists(st.floats(0, 1e6) | st.sampled_from([0.0, 1.0, 2.5]), max_size=40))
def test_a_batch_observed_at_once_is_exposed_as_each_value_observed_alone(
    values: list[float],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    skews = Histogram("skew_seconds", "Skews.", buckets=(0, 1, 2.5), registry=theirs)
    our_skews = PlainHistogram("skew_seconds", "Skews.", (), (0, 1, 2.5), ours)
    for value in values:
        skews.observe(value)
    our_skews.labels().observe_many(values)
    for exposition in (generate_latest, openmetrics):
        assert without_creation_times(exposition(ours)) == without_creation_times(
            exposition(theirs)
        )


def test_a_labelled_family_without_series_is_still_declared() -> None:
    registry = CollectorRegistry()
    PlainHistogram("wait_seconds", "Waits.", ["step"], (1, 5), registry)
    assert "# TYPE wait_seconds histogram" in generate_latest(registry).decode()


def test_events_read_reach_the_counter_when_their_batch_is_kept() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), known_types={"Deployed"})
    observer.events_read({("Deployed", "valid"): 2})
    observer.events_read({("Deployed", "valid"): 1, ("Gossip", "unregistered"): 1})
    labels = {"type": "Deployed", "outcome": "valid"}
    assert registry.get_sample_value("sentinel_events_total", labels) is None
    observer.batch_kept(4, [], [], ())
    assert registry.get_sample_value("sentinel_events_total", labels) == 3
    other = {"type": "_other", "outcome": "unregistered"}
    assert registry.get_sample_value("sentinel_events_total", other) == 1
    observer.batch_kept(0, [], [], ())
    assert registry.get_sample_value("sentinel_events_total", labels) == 3


def test_open_rollouts_move_by_what_a_batch_opened_and_closed() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), known_types=())
    observer.rollout_opened("deploy")
    observer.rollout_opened("deploy")
    observer.rollout_closed(RolloutState("deploy", "r1", 0.0), "completed", 12.0)
    observer.batch_kept(3, [], [], ())
    assert registry.get_sample_value("sentinel_rollouts_open", {"expectation": "deploy"}) == 1
    durations = {"expectation": "deploy", "outcome": "completed"}
    assert registry.get_sample_value("sentinel_rollout_duration_seconds_count", durations) == 1
    assert registry.get_sample_value("sentinel_rollout_duration_seconds_sum", durations) == 12.0


def test_an_abandoned_rollout_closes_but_is_not_timed() -> None:
    """Contract section 8 times `completed` and `rolled_back` rollouts only; one a person
    called off (section 14) leaves the open count, not a duration."""
    registry = CollectorRegistry()
    observer = MetricsObserver(Metrics(registry), known_types=())
    observer.rollout_opened("deploy")
    observer.rollout_opened("deploy")
    observer.rollout_closed(RolloutState("deploy", "r1", 0.0), "abandoned", 12.0)
    observer.batch_kept(0, [], [], ())
    assert registry.get_sample_value("sentinel_rollouts_open", {"expectation": "deploy"}) == 1
    assert "abandoned" not in generate_latest(registry).decode()
