"""Schema registries (contract section 10): a read-only client and a cache of writer schemas.

The pipeline uses `cache.SchemaCache` (synchronous lookups, an async `fetch`) after
`sentinel.core.events.framing.unframe` has found which schema a record names. Nothing is re-exported
here, so that reading the config (`settings`) does not import aiohttp.
"""
