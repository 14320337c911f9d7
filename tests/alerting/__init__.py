"""Alerting tests: fake Slack and receivers over real HTTP, and the pure parts on their own."""
