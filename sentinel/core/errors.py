"""The one exception hierarchy for mistakes a user can fix; each message says what to fix."""

from __future__ import annotations

from collections.abc import Sequence


class SentinelError(Exception):
    """Root of every error the sentinel reports to a user instead of a traceback."""


class UsageError(SentinelError):
    """A command line that cannot be carried out as given."""


class ExpectationFileError(SentinelError):
    """One or more expectation files are invalid; each problem starts with `path:line:`."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class SchemaDirError(SentinelError):
    """The schema directory or one of its schemas cannot be used."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(SentinelError):
    """The config file of `sentinel run` is invalid; the message names the key."""


class StoreError(SentinelError):
    """The state store cannot be opened or is not ours (wrong version, corrupt file)."""


class BusUnreachable(SentinelError):
    """No Kafka broker answers at the configured address (the watcher keeps trying)."""
