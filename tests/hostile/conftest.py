"""The Kafka source fixtures of the runtime tests, for the hostile-input tests too."""

from runtime.conftest import fetch_at_least, kafka_settings, make_listener, start_source

__all__ = ["fetch_at_least", "kafka_settings", "make_listener", "start_source"]
