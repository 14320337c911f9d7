"""The tables of a state file and the migrations that bring an older file up to them."""

from __future__ import annotations

SCHEMA_VERSION = 4
# Files of this version or later have the history table (`sentinel report --state` reads it).
HISTORY_SINCE = 3
# PRAGMA application_id: tells our file from any other SQLite file ("RSNT").
APPLICATION_ID = 0x52534E54

# The changelog mode's bookkeeping (sentinel.store.changelog): which store wrote a changelog
# record, and per partition the changelog offset this file is a snapshot of, unless `dirty`
# (a local commit not yet acknowledged by the broker). Files of version 1 may have them.
_CHANGELOG_TABLES = (
    "CREATE TABLE IF NOT EXISTS changelog_writer (id TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS changelog_positions (
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        changelog_next INTEGER NOT NULL,
        dirty INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)
    ) WITHOUT ROWID""",
)
# Closed rollouts kept for `history.retention` (sentinel.store.history_table), and in
# changelog mode the ones this file closed that the history topic has not acknowledged yet.
_HISTORY_TABLES = (
    """CREATE TABLE history (
        expectation TEXT NOT NULL,
        key TEXT NOT NULL,
        opened_at REAL NOT NULL,
        closed_at REAL NOT NULL,
        home_topic TEXT,
        home_partition INTEGER,
        entry BLOB NOT NULL,
        PRIMARY KEY (expectation, key)
    )""",
    "CREATE INDEX history_closed ON history (closed_at)",
    # Pages of the rollout API and the report: newest opened first.
    "CREATE INDEX history_opened ON history (opened_at, expectation, key)",
    """CREATE TABLE history_unsent (
        expectation TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (expectation, key)
    ) WITHOUT ROWID""",
)
# Per event type, what the engine remembers of its writer schemas (writers.WriterMemory):
# [last id, [ids a schema_changed was said for]] as JSON (ids are numbers or GUIDs).
_WRITER_TABLES = (
    "CREATE TABLE writer_schemas (type TEXT PRIMARY KEY, memory BLOB NOT NULL) WITHOUT ROWID",
)
SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    # One row; NULL until the engine's clock has read its first event.
    "CREATE TABLE engine_clock (clock REAL)",
    """CREATE TABLE rollouts (
        expectation TEXT NOT NULL,
        key TEXT NOT NULL,
        phase TEXT NOT NULL,
        closed_at REAL,
        state BLOB NOT NULL,
        -- The partition that owns it (RolloutState.home), where the changelog mode keeps it.
        -- Not indexed: it is searched on a partition's assignment only, and an index costs
        -- 80 bytes a row.
        home_topic TEXT,
        home_partition INTEGER,
        PRIMARY KEY (expectation, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX rollouts_closed ON rollouts (closed_at) WHERE closed_at IS NOT NULL",
    # No index at all: the engine never reports an id twice, and rows arrive in clock order,
    # so the oldest are the first rowids (pruning walks them). Half the cost of a keyed table.
    "CREATE TABLE seen_events (source TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE unregistered_types (type TEXT PRIMARY KEY) WITHOUT ROWID",
    # Finding ids are hashes: a keyed table would write a random page for each. They are
    # looked up in memory instead (one retention's worth), and only appended here.
    "CREATE TABLE emitted_findings (id TEXT NOT NULL, at REAL NOT NULL)",
    """CREATE TABLE offsets (
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)
    ) WITHOUT ROWID""",
    *_CHANGELOG_TABLES,
    *_HISTORY_TABLES,
    *_WRITER_TABLES,
)
# Version -> the statements that bring a file of that version to the next one, in one
# transaction each.
MIGRATIONS = {
    # The owning partition in two columns instead of one "topic/partition" text.
    1: (
        "ALTER TABLE rollouts ADD COLUMN home_topic TEXT",
        "ALTER TABLE rollouts ADD COLUMN home_partition INTEGER",
        # Kafka topic names have no "/", so the first one separates topic and partition.
        """UPDATE rollouts SET home_topic = substr(feed, 1, instr(feed, '/') - 1),
            home_partition = CAST(substr(feed, instr(feed, '/') + 1) AS INTEGER)
            WHERE feed IS NOT NULL""",
        "ALTER TABLE rollouts DROP COLUMN feed",
        *_CHANGELOG_TABLES,
        "UPDATE schema_version SET version = 2",
    ),
    # The history of closed rollouts; it starts empty (rollouts closed before were not kept).
    2: (*_HISTORY_TABLES, "UPDATE schema_version SET version = 3"),
    # Writer schema ids per type; it starts empty (the first event of each type sets it).
    3: (*_WRITER_TABLES, "UPDATE schema_version SET version = 4"),
}
