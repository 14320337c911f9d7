"""A free port for a local server is one a server can bind, outside the range the kernel gives
outgoing connections (where a client could take it before the server binds it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sentinel import local_port
from sentinel.local_port import free_port


def test_a_free_port_can_be_bound_and_is_outside_the_outgoing_range() -> None:
    low, high = local_port._ephemeral_range()
    for _ in range(50):
        port = free_port()
        assert not low <= port <= high
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_ports_are_drawn_at_random_not_in_order() -> None:
    assert len({free_port() for _ in range(20)}) > 10


def test_a_port_in_use_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            other = probe.getsockname()[1]
        drawn = iter([busy, busy, other])
        monkeypatch.setattr(local_port._CHOOSE, "randrange", lambda start, end: next(drawn))
        assert free_port() == other


def test_without_the_kernels_range_linuxs_default_is_assumed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local_port, "_EPHEMERAL_RANGE", tmp_path / "missing")
    assert local_port._ephemeral_range() == (32768, 60999)


def test_a_kernel_that_hands_out_every_port_leaves_its_own_choice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    everything = tmp_path / "ip_local_port_range"
    everything.write_text("1024\t65535\n")
    monkeypatch.setattr(local_port, "_EPHEMERAL_RANGE", everything)
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
