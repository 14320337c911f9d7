"""Histograms counted in plain numbers and exported when scraped: observing one is a bisect.

prometheus_client's `Histogram.observe` takes a lock and walks the buckets, about 1.5 us; the
watcher observes a step wait and a clock skew for most events, so that was a tenth of the live
cost. These export the very samples a `Histogram` does (`_bucket`, `_count`, `_sum` unless a
bucket is negative, `_created`), so dashboards and rules see no difference. Everything runs
on the event loop's thread, scrapes included: no lock is needed.

Exemplars (OpenMetrics) are kept per bucket as they came, the last one each: what labels them
(a rollout's trace and span ids, a SHA-256 each) is computed from it only when scraped, once,
by the family's `exemplar_labels`; an observation costs one tuple more.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

_INF = float("inf")
# An exemplar as observed: (what its labels are made from, value, wall time, the labels once
# computed).
Kept = tuple[Hashable, float, float, Mapping[str, str] | None]
ExemplarLabels = Callable[[Hashable], Mapping[str, str]]


class Series:
    """One label set's buckets (not cumulative: each count is for its own bucket)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()
        # Per bucket, its last exemplar; None until the first one (most series have none).
        self.exemplars: list[Kept | None] | None = None

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value

    def observe_many(self, values: Sequence[float]) -> None:
        """Observe each of `values`: sorted once, then one bisect per bucket instead of one
        per value (a batch's clock skews: one per record)."""
        ordered = sorted(values)
        if not ordered:
            return
        counts, below = self.counts, 0
        for index, bound in enumerate(self._bounds):
            # A value equal to a bound is in that bound's bucket (`le`), as `observe` puts it.
            upto = bisect_right(ordered, bound)
            counts[index] += upto - below
            below = upto
        self.sum = sum(values, self.sum)  # in their order, as one `observe` after another

    def observe_with(self, value: float, source: Hashable, at: float) -> None:
        """Observe `value` with an exemplar made from `source` at wall time `at`."""
        index = bisect_left(self._bounds, value)
        self.counts[index] += 1
        self.sum += value
        exemplars = self.exemplars
        if exemplars is None:
            exemplars = self.exemplars = [None] * len(self.counts)
        exemplars[index] = (source, value, at, None)


class PlainHistogram:
    """A histogram family on `registry`, used like prometheus_client's (`labels().observe`)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        buckets: Iterable[float],
        registry: CollectorRegistry,
        exemplar_labels: ExemplarLabels | None = None,
    ) -> None:
        self._name = name
        self._exemplar_labels = exemplar_labels
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        bounds = sorted(float(bound) for bound in buckets)
        self._bounds = (*bounds, _INF) if not bounds or bounds[-1] != _INF else tuple(bounds)
        self._les = tuple(_go_text(bound) for bound in self._bounds)  # the `le` labels
        self._series: dict[tuple[str, ...], Series] = {}
        if not self._labelnames:
            self._series[()] = Series(self._bounds)
        registry.register(self)

    def labels(self, *values: str) -> Series:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name} takes labels {self._labelnames}, not {values}")
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = Series(self._bounds)
        return series

    def observe(self, value: float) -> None:
        """For a family without labels."""
        self._series[()].observe(value)

    def describe(self) -> list[Metric]:
        return [Metric(self._name, self._documentation, "histogram")]

    def collect(self) -> list[Metric]:
        metric = Metric(self._name, self._documentation, "histogram")
        for values, series in self._series.items():
            labels = dict(zip(self._labelnames, values, strict=True))
            total = 0
            exemplars = self._exemplars(series)
            for le, count, exemplar in zip(self._les, series.counts, exemplars, strict=True):
                total += count
                bucket = {**labels, "le": le}
                metric.add_sample(f"{self._name}_bucket", bucket, float(total), None, exemplar)
            metric.add_sample(f"{self._name}_count", labels, float(total))
            if self._bounds[0] >= 0:  # a sum of signed values says little: not exported
                metric.add_sample(f"{self._name}_sum", labels, series.sum)
            metric.add_sample(f"{self._name}_created", labels, series.created)
        return [metric]

    def _exemplars(self, series: Series) -> Sequence[Exemplar | None]:
        """Each bucket's exemplar, its labels computed now if not at an earlier scrape."""
        kept = series.exemplars
        if kept is None or self._exemplar_labels is None:
            return [None] * len(series.counts)
        found: list[Exemplar | None] = []
        for index, entry in enumerate(kept):
            if entry is None:
                found.append(None)
                continue
            source, value, at, labels = entry
            if labels is None:
                labels = self._exemplar_labels(source)
                kept[index] = (source, value, at, labels)
            found.append(Exemplar(dict(labels), value, at))
        return found


def _go_text(bound: float) -> str:
    """A bucket bound as prometheus_client writes it (`1.0`, `+Inf`)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text
