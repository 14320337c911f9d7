"""`sentinel check --registry URL`: for each step, is there a writer and a reader schema?

One line per event type of every expectation (steps, then compensation trigger and expect),
starting with the expectation's `path:line:`; a line that lacks either schema, or whose
writer schema cannot check JSON, says `warning:` after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sentinel.core.events.schemas import SUFFIXES
from sentinel.core.rules.expectations import Expectation
from sentinel.registry.cache import Latest, SchemaCache, Unusable
from sentinel.registry.failures import RegistryUnavailable
from sentinel.registry.settings import RegistrySettings, settings_for_url


async def registry_report(
    registry: RegistrySettings | str,
    expectations: Sequence[Expectation],
    schema_dir: Path | str | None,
    topics: Sequence[str] = (),
) -> list[str]:
    """The report's lines; a registry that does not answer gives one line that says so.

    With a subject template that uses `{topic}`, each type is checked once per topic in
    `topics` (none given: the writer side cannot be checked, and the report says so).
    """
    settings = registry if isinstance(registry, RegistrySettings) else settings_for_url(registry)
    per_type = {
        event_type: _subjects(settings, event_type, topics)
        for expectation in expectations
        for event_type in _event_types(expectation)
    }
    lines: list[str] = []
    if settings.subject_uses_topic and not topics:
        lines.append(
            f"registry: the subject template {settings.subject!r} uses {{topic}}: "
            "give the topics to check writer schemas"
        )
    async with SchemaCache(settings) as cache:
        try:
            await cache.fetch(subjects=[s for subjects in per_type.values() for s in subjects])
        except RegistryUnavailable as error:
            return [*lines, f"registry: cannot check writer schemas: {error}"]
        for expectation in expectations:
            for event_type in _event_types(expectation):
                writers = [
                    _writer(subject, cache.latest(subject)) for subject in per_type[event_type]
                ]
                reader = _reader(schema_dir, event_type)
                fine = reader[0] and all(ok for ok, _ in writers)
                texts = [text for _, text in writers] or ["writer schema not checked"]
                warning = "" if fine else "warning: "
                lines.append(
                    f"{expectation.origin}: {warning}{event_type}: {'; '.join(texts)}; {reader[1]}"
                )
    return lines


def _event_types(expectation: Expectation) -> list[str]:
    types = [step.event for step in expectation.steps]
    for compensation in expectation.compensation:
        types.extend((compensation.trigger, compensation.expect))
    return list(dict.fromkeys(types))


def _subjects(settings: RegistrySettings, event_type: str, topics: Sequence[str]) -> list[str]:
    if settings.subject_uses_topic:
        return [settings.subject_for(event_type, topic) for topic in topics]
    return [settings.subject_for(event_type)]


def _writer(subject: str, latest: Latest | Unusable | None) -> tuple[bool, str]:
    if isinstance(latest, Latest):
        where = f"subject {subject!r} version {latest.version} ({latest.ref})"
        if isinstance(latest.schema, Unusable):
            return False, f"writer schema {where} is unusable: {latest.schema.message}"
        return True, f"writer schema {where}"
    if isinstance(latest, Unusable) and latest.kind != "not_found":
        return False, f"writer schema of subject {subject!r} is unusable: {latest.message}"
    return False, f"no writer schema (no subject {subject!r} in the registry)"


def _reader(schema_dir: Path | str | None, event_type: str) -> tuple[bool, str]:
    if schema_dir is None:
        return True, "reader schema not checked (no --schemas)"
    for suffix in SUFFIXES:
        path = Path(schema_dir) / f"{event_type}{suffix}"
        if path.is_file():
            return True, f"reader schema {path}"
    return False, f"no reader schema ({event_type}.json in {schema_dir})"
