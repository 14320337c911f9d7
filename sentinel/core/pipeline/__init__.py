"""The one batch pipeline, live and in replay."""
