"""What the pipeline asks of a state store and an alert outbox."""
