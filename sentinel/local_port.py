"""A free TCP port for a local server: the embedded broker (`make demo`) and the tests' servers.

The kernel's own choice (binding port 0) comes from the range it also hands out to outgoing
connections: between the choice and the server's bind, a client connecting anywhere (a Kafka
consumer, an HTTP client) can take it, and the server fails with "address already in use" (a
test run in CI did). Ports are chosen below that range instead, at random across processes.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LINUX_DEFAULT = (32768, 60999)
_LOWEST = 10_000  # below: ports that well-known and registered services listen on
_TRIES = 200

# Not the `random` module's generator: tests seed it (hypothesis), alike in every process.
_CHOOSE = random.SystemRandom()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing on `host` listens on now, outside the kernel's outgoing range."""
    low, high = _ephemeral_range()
    start, end = (_LOWEST, low) if low - _LOWEST >= 1_000 else (high + 1, 65_536)
    # A kernel that hands out (almost) every port leaves none outside: then its own choice.
    for _ in range(_TRIES if end - start >= 1_000 else 0):
        port = _CHOOSE.randrange(start, end)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = _EPHEMERAL_RANGE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _LINUX_DEFAULT
