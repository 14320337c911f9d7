"""`sentinel learn` as one object: feed it envelopes, then ask for what it learned.

Without `--correlate`, the first events are held as a sample until the correlation paths are
chosen from them; from then on every event goes straight into per-rollout sequences. With
`--against`, the teams' own correlation paths are read as well, in the same single pass, so
a log on standard input or from Kafka is read once. Purely computational.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sentinel.core.events.envelope import Envelope, Malformed
from sentinel.core.rules.expectations import Expectation
from sentinel.learning.compare import compare
from sentinel.learning.correlation import Discovery, PathChoice
from sentinel.learning.grouping import group_types
from sentinel.learning.model import LearnedExpectation, LearnResult, Reading
from sentinel.learning.propose import propose
from sentinel.learning.sequences import Collector, PathSequences, select

# Enough events to see many rollouts of every kind; few enough to hold while deciding.
SAMPLE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class LearnOptions:
    """What the command line says."""

    correlate: str | None = None
    min_support: float = 0.95
    against: tuple[Expectation, ...] = ()
    sample_size: int = SAMPLE_SIZE

    def __post_init__(self) -> None:
        if not 0.5 < self.min_support <= 1.0:
            # At one half or below, `A before B` and `B before A` could both be edges.
            raise ValueError(f"min_support must be above 0.5 and at most 1, not {self.min_support}")


class Learner:
    """Reads a log once, event by event, and learns from it at the end."""

    def __init__(self, options: LearnOptions) -> None:
        self.options = options
        self._choices: list[PathChoice] = []
        self._collector: Collector | None = None
        self._sample: list[Envelope | Malformed] = []
        self._discovery = Discovery() if options.correlate is None else None
        if options.correlate is not None:
            # A given path claims no type in particular: every type may be on it.
            self._start([PathChoice(options.correlate, frozenset(), 0, 0)])

    def add(self, item: Envelope | Malformed) -> None:
        """Take one record."""
        if self._collector is not None:
            self._collector.add(item)
            return
        self._sample.append(item)
        if isinstance(item, Envelope) and self._discovery is not None:
            self._discovery.add(item)
        if len(self._sample) >= self.options.sample_size:
            self._decide()

    def feed(self, items: Iterable[Envelope | Malformed]) -> None:
        """Take every record of `items`."""
        iterator = iter(items)
        if self._collector is None:
            for item in iterator:
                self.add(item)
                if self._collector is not None:
                    break
        if self._collector is not None:
            self._collector.feed(iterator)

    def finish(self) -> LearnResult:
        """What the log says: proposed expectations, comparisons, and what was left aside."""
        if self._collector is None:
            self._decide()
        assert self._collector is not None
        collector = self._collector
        learned = self._learn(collector)
        comparisons = []
        for expectation in self.options.against:
            others = {
                name
                for other in self.options.against
                if other is not expectation and other.correlate == expectation.correlate
                for name in other.event_types
            }
            sequences = next(p for p in collector.paths if p.path == expectation.correlate)
            comparisons.append(
                compare(expectation, sequences, collector, self.options.min_support, others)
            )
        return LearnResult(
            tuple(choice.path for choice in self._choices),
            tuple(learned),
            tuple(comparisons),
            _reading(collector, learned),
        )

    def _decide(self) -> None:
        self._start(self._discovery.choose() if self._discovery is not None else [])
        self._discovery = None  # what it counted is no longer needed
        sample, self._sample = self._sample, []
        assert self._collector is not None
        self._collector.feed(sample)

    def _start(self, choices: list[PathChoice]) -> None:
        self._choices = choices
        paths: dict[str, PathSequences] = {}
        for choice in choices:
            # A type claimed by another path belongs to that path's rollouts, not this one's.
            elsewhere = frozenset().union(*(c.types for c in choices if c is not choice))
            paths[choice.path] = PathSequences(choice.path, elsewhere - choice.types)
        for expectation in self.options.against:
            # A comparison reads every type on the team's path, whatever discovery claimed.
            paths[expectation.correlate] = PathSequences(expectation.correlate)
        self._collector = Collector(list(paths.values()))

    def _learn(self, collector: Collector) -> list[LearnedExpectation]:
        claimed = frozenset().union(*(choice.types for choice in self._choices))
        learned: list[LearnedExpectation] = []
        for choice in self._choices:
            sequences = next(p for p in collector.paths if p.path == choice.path)
            eligible = frozenset(
                tid
                for name, tid in collector.type_ids.items()
                if name in choice.types or name not in claimed
            )
            for group in group_types(select(sequences, eligible).orders):
                found = propose(
                    select(sequences, frozenset(group)),
                    group,
                    collector.type_names,
                    choice.path,
                    self.options.min_support,
                )
                if found is not None:
                    learned.append(found)
        return _unique_names(learned)


def learn(items: Iterable[Envelope | Malformed], options: LearnOptions) -> LearnResult:
    """Everything `sentinel learn` has to say about `items`."""
    learner = Learner(options)
    learner.feed(items)
    return learner.finish()


def _unique_names(learned: Sequence[LearnedExpectation]) -> list[LearnedExpectation]:
    """Two groups may start with types that give one name: number the later ones."""
    taken: set[str] = set()
    result = []
    for expectation in learned:
        name, number = expectation.name, 2
        while name in taken:
            name, number = f"{expectation.name}-{number}", number + 1
        taken.add(name)
        result.append(expectation if name == expectation.name else replace(expectation, name=name))
    return result


def _reading(collector: Collector, learned: Sequence[LearnedExpectation]) -> Reading:
    named = {step.event for exp in learned for step in exp.steps}
    named |= {c.trigger for exp in learned for c in exp.compensations}
    named |= {c.expect for exp in learned for c in exp.compensations}
    grouped = named | {left.event for exp in learned for left in exp.left_out}
    names, counts = collector.type_names, collector.type_counts
    unrelated = tuple(
        (names[tid], counts[tid]) for tid in range(len(names)) if names[tid] not in grouped
    )
    unkeyed = tuple(
        (names[tid], collector.unkeyed[tid])
        for tid in range(len(names))
        if names[tid] in named and collector.unkeyed[tid]
    )
    timed = collector.clock != float("-inf")
    return Reading(
        records=collector.records,
        events=collector.events,
        malformed=collector.malformed,
        malformed_examples=tuple(collector.malformed_examples),
        undated=collector.undated,
        unrelated=unrelated,
        unkeyed=unkeyed,
        earliest=collector.earliest if timed else None,
        latest=collector.clock if timed else None,
    )
