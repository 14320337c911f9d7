"""Fake PagerDuty Events API v2 and Teams Workflows webhook, over real HTTP on 127.0.0.1, each
answering as its vendor documents: PagerDuty 202 `{"status": "success", "dedup_key": ...}`,
400 for an invalid event (naming what is wrong), 429 when throttled; a Workflows webhook 202
for a message with an Adaptive Card, 400 for anything else, 413 beyond Teams' size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .fakes import FakeServer, Request

ROUTING_KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"  # PagerDuty's keys are 32 characters
ENQUEUE = "/v2/enqueue"
SEVERITIES = {"critical", "error", "warning", "info"}
WORKFLOW = "/workflows/abc/triggers/manual/paths/invoke"
CARD = "application/vnd.microsoft.card.adaptive"
TEAMS_MESSAGE_BYTES = 28_000


@dataclass
class Incident:
    """What PagerDuty made of the events of one dedup key."""

    status: str  # triggered, acknowledged, resolved
    triggers: int = 0


class FakePagerDuty(FakeServer):
    """POST /v2/enqueue of the Events API v2 for one routing key."""

    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.incidents: dict[str, Incident] = {}

    @property
    def enqueue_url(self) -> str:
        return f"{self.url}{ENQUEUE}"

    def events(self) -> list[dict[str, Any]]:
        """The events PagerDuty accepted, in order."""
        return [request.json for request in self.served(ENQUEUE, 202)]

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        if path != ENQUEUE:
            return web.json_response({"status": "not found"}, status=404)
        try:
            event = request.json
        except ValueError:
            return _invalid("Event object is invalid", "request body is not JSON")
        errors = _errors(event)
        if errors:
            return _invalid("Event object is invalid", *errors)
        if event["routing_key"] != self.routing_key:
            return _invalid("Event object is invalid", "Invalid routing key")
        key = event.get("dedup_key") or f"generated-{len(self.requests)}"
        action = event["event_action"]
        incident = self.incidents.get(key)
        if action == "trigger":
            if incident is None or incident.status == "resolved":
                incident = self.incidents[key] = Incident("triggered")
            incident.triggers += 1
        elif incident is not None and incident.status != "resolved":
            incident.status = "resolved" if action == "resolve" else "acknowledged"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )


def _errors(event: Any) -> list[str]:
    """PagerDuty's checks of an event, as its 400 answers word them."""
    if not isinstance(event, dict):
        return ["Event object is not an object"]
    errors = []
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or len(routing_key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    if event.get("event_action") not in {"trigger", "acknowledge", "resolve"}:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if event.get("event_action") in {"acknowledge", "resolve"} and not key:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        summary = payload.get("summary")
        if not summary:
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' is invalid")
    return errors


def _invalid(message: str, *errors: str) -> web.Response:
    body = {"status": "invalid event", "message": message, "errors": list(errors)}
    return web.json_response(body, status=400)


class FakeTeams(FakeServer):
    """A Workflows webhook (Teams' "When a Teams webhook request is received"): a message whose
    attachments are Adaptive Cards is accepted (202) and posted; anything else is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []

    @property
    def workflow_url(self) -> str:
        return f"{self.url}{WORKFLOW}"

    async def answer(self, path: str, request: Request) -> web.StreamResponse:
        if path != WORKFLOW:
            return web.json_response({"error": {"code": "WorkflowNotFound"}}, status=404)
        if len(request.raw) > TEAMS_MESSAGE_BYTES:
            return web.json_response({"error": {"code": "MessageTooLarge"}}, status=413)
        try:
            message = request.json
        except ValueError:
            return web.json_response({"error": {"code": "InvalidRequestContent"}}, status=400)
        problem = _card_problem(message)
        if problem:
            return web.json_response(
                {"error": {"code": "InvalidTemplate", "message": problem}}, 400
            )
        self.cards.extend(attachment["content"] for attachment in message["attachments"])
        return web.Response(status=202)


def _card_problem(message: Any) -> str | None:
    if not isinstance(message, dict) or message.get("type") != "message":
        return "not a message"
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "no attachments"
    for attachment in attachments:
        if attachment.get("contentType") != CARD:
            return "not an Adaptive Card"
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not isinstance(card.get("body"), list):
            return "not an Adaptive Card"
        for element in card["body"]:
            if element.get("type") not in {"TextBlock", "RichTextBlock", "FactSet", "Container"}:
                return f"unknown element {element.get('type')}"
        for action in card.get("actions", []):
            if action.get("type") != "Action.OpenUrl" or not action.get("url"):
                return "an action must be Action.OpenUrl with a url"
    return None
