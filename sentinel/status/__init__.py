"""Where every rollout stands, for people and scripts: the rollout API's JSON, the status board,
and the audit report (contract section 11). Pure: the HTTP server and the CLI call in."""
