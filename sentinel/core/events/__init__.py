"""Records and what they hold: bytes to envelopes, schemas applied."""
