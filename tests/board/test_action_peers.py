"""An action on any replica reaches the rollout's owner (contract section 14): a click on the
replica that does not hold the rollout is forwarded to its peers, and only the owner takes it
(real servers on real ports, in one process, as test_peers.py)."""

from __future__ import annotations

from engine.helpers import MIN, T0, event

from sentinel.core.engine.snapshots import Phase

from .conftest import NAME, StartSentinel
from .server import Sentinel
from .test_action_api import AUTH, board_headers, post
from .test_peers import free_ports


async def pair(start_sentinel: StartSentinel) -> tuple[Sentinel, Sentinel]:
    """Replicas a and b with one user, an operator; a owns r-a, b owns r-b."""
    ports = free_ports(2)
    peers = [f"127.0.0.1:{port}" for port in ports]
    a, b = [
        await start_sentinel(port=port, peers=peers, basic_auth=AUTH, operators=("oncall",))
        for port in ports
    ]
    a.events([event("SchemaV2_Ready", T0, "r-a", "e-a")], T0 + 11 * MIN)
    b.events([event("SchemaV2_Ready", T0 + MIN, "r-b", "e-b")], T0 + 11 * MIN)
    return a, b


async def test_a_click_on_another_replica_is_taken_by_the_rollouts_owner(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    status, body = await post(a, "r-b", {"verb": "acknowledge"}, board_headers(a))
    assert status == 200, body
    assert [action["by"] for action in body["actions"]] == ["oncall"]
    assert [x.verb for x in b.engine.rollouts[NAME]["r-b"].actions] == ["acknowledge"]
    assert "r-b" not in a.engine.rollouts[NAME]  # a holds nothing of it, before or after
    status, body = await post(a, "r-b", {"verb": "abandon", "note": "stop"}, board_headers(a))
    assert status == 200, body
    assert b.engine.rollouts[NAME]["r-b"].phase is Phase.ABANDONED
    # The owner's refusal travels back as it is.
    status, body = await post(a, "r-b", {"verb": "acknowledge"}, board_headers(a))
    assert status == 409 and "closed" in body["error"]


async def test_a_rollout_no_replica_holds_is_404_from_either(
    start_sentinel: StartSentinel,
) -> None:
    a, b = await pair(start_sentinel)
    for replica in (a, b):
        status, body = await post(
            replica, "r-none", {"verb": "acknowledge"}, board_headers(replica)
        )
        assert status == 404, body
        assert body["partial"] == []
    assert "r-none" not in a.engine.rollouts[NAME] and "r-none" not in b.engine.rollouts[NAME]
