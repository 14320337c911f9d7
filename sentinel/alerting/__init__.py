"""Alerts people and machines can act on: findings routed to Slack, webhooks and Alertmanager
through an on-disk outbox, so an outage or a restart delays alerts but never drops or doubles them.

Pure parts decide (router, grouper, the sinks' planners and renderers); the outbox stores;
the delivery workers and the sinks' transports do the I/O. Each sink is one module of `sinks/`,
listed once in `sinks.SINKS`. See docs/alerting.md.
"""
