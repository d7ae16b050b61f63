"""The schema of `SQLiteStateStore` (the module docstring of ``_sqlite.py`` describes it):
its version, the migration steps, and the statements that touch several tables at once."""

from __future__ import annotations

from .._model import FINISHED

__all__ = [
    "APPLICATION_ID",
    "CLAIM",
    "CURRENT",
    "INSTANCE_ROWS",
    "MIGRATIONS",
    "READY",
    "READ_INSTANCE",
    "RETAIN",
    "SCHEMA_VERSION",
    "UPSERT_INSTANCE",
    "UPSERT_SNAPSHOT",
]

SCHEMA_VERSION = 3
APPLICATION_ID = 0x64757261  # "dura": this file is a durable store


# Step i takes a database from schema version i to i + 1 (step 0 creates it).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE instances (
            id BLOB PRIMARY KEY NOT NULL,
            seq INTEGER,
            status TEXT,
            program BLOB,
            wake_at INTEGER,
            children_mode TEXT,
            parent BLOB,
            lease_owner BLOB,
            lease_until INTEGER,
            created_at INTEGER,
            updated_at INTEGER,
            events TEXT,
            children TEXT,
            header BLOB
        )""",
        "CREATE INDEX instances_wake ON instances (status, wake_at)",
        "CREATE INDEX instances_updated ON instances (updated_at)",
        "CREATE INDEX instances_parent ON instances (parent)",
        "CREATE TABLE snapshots (id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL)",
        """CREATE TABLE inbox (
            instance_id BLOB NOT NULL,
            event_id BLOB NOT NULL,
            name BLOB NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (instance_id, event_id)
        )""",
        "CREATE INDEX inbox_name ON inbox (name, instance_id)",
        """CREATE TABLE history (
            n INTEGER PRIMARY KEY,
            instance_id BLOB NOT NULL,
            entry BLOB NOT NULL
        )""",
        "CREATE INDEX history_instance ON history (instance_id, n)",
        """CREATE TABLE waits (
            instance_id BLOB NOT NULL,
            name BLOB NOT NULL,
            PRIMARY KEY (instance_id, name)
        ) WITHOUT ROWID""",
        """CREATE TABLE children (
            instance_id BLOB NOT NULL,
            position INTEGER NOT NULL,
            child_id BLOB NOT NULL,
            first INTEGER NOT NULL,
            PRIMARY KEY (instance_id, position)
        ) WITHOUT ROWID""",
    ),
    (  # 1 -> 2: leases, for ids with or without a snapshot (a start is claimed too)
        """CREATE TABLE leases (
            instance_id BLOB PRIMARY KEY NOT NULL,
            owner BLOB NOT NULL,
            until INTEGER NOT NULL
        ) WITHOUT ROWID""",
    ),
    (  # 2 -> 3: superseded checkpoints (a rowid table: the snapshot blobs stay off the index)
        """CREATE TABLE checkpoints (
            instance_id BLOB NOT NULL,
            seq INTEGER NOT NULL,
            header BLOB NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (instance_id, seq)
        )""",
    ),
)

FINISHED_SQL = ", ".join(f"'{status}'" for status in sorted(FINISHED))

# Paused instances whose wait resolves now: four indexed sub-queries (wake time passed; an
# awaited event in the inbox; the cancellation event in the inbox; children finished), the
# same conditions as `durable._model.is_ready`, oldest update first.
READY = f"""
SELECT i.id FROM instances AS i WHERE i.rowid IN (
    SELECT rowid FROM instances WHERE status = 'paused' AND wake_at <= :now
    UNION
    SELECT p.rowid FROM inbox AS e JOIN instances AS p ON p.id = e.instance_id
        WHERE e.name = :cancel AND p.status = 'paused'
    UNION
    SELECT p.rowid FROM waits AS w
        JOIN instances AS p ON p.id = w.instance_id
        WHERE p.status = 'paused' AND EXISTS (
            SELECT 1 FROM inbox AS e WHERE e.instance_id = w.instance_id AND e.name = w.name)
    UNION
    SELECT p.rowid FROM (
        SELECT c.instance_id AS id, MAX(c.first) AS first,
            MIN(COALESCE(k.status IN ({FINISHED_SQL}), 0)) AS all_done,
            MAX(COALESCE(k.status IN ({FINISHED_SQL}), 0)) AS any_done
        FROM children AS c LEFT JOIN instances AS k ON k.id = c.child_id
        GROUP BY c.instance_id
    ) AS g JOIN instances AS p ON p.id = g.id
        WHERE p.status = 'paused' AND (CASE WHEN g.first THEN g.any_done ELSE g.all_done END)
) ORDER BY i.updated_at, i.rowid LIMIT :limit
"""

# What a commit checks and compares, in one statement and always one row: the lease holder,
# then the stored header's seq and the columns that decide its `waits` and `children` rows
# (NULLs when no instance is stored). Parameters: the id, twice.
CURRENT = """
SELECT (SELECT owner FROM leases WHERE instance_id = ?),
    i.seq, i.status, i.events, i.children, i.children_mode
FROM (SELECT 1) LEFT JOIN instances AS i ON i.id = ?
"""

# A lease taken or renewed unless another owner holds one that has not expired, in one
# statement (rowcount 0: refused). Parameters: id, owner, until, now.
CLAIM = """
INSERT INTO leases (instance_id, owner, until) VALUES (?, ?, ?)
ON CONFLICT (instance_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
WHERE leases.owner = excluded.owner OR leases.until <= ?
"""

# An instance's snapshot and header in one statement (no row: no snapshot).
READ_INSTANCE = """
SELECT s.data, i.header FROM snapshots AS s LEFT JOIN instances AS i ON i.id = s.id
WHERE s.id = ?
"""

UPSERT_INSTANCE = """
INSERT INTO instances (id, seq, status, program, wake_at, children_mode, parent, lease_owner,
    lease_until, created_at, updated_at, events, children, header)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, status = excluded.status,
    program = excluded.program, wake_at = excluded.wake_at,
    children_mode = excluded.children_mode, parent = excluded.parent,
    lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    events = excluded.events, children = excluded.children, header = excluded.header
"""

# The checkpoint a commit supersedes, copied inside SQLite (its bytes never reach Python).
RETAIN = """
INSERT OR REPLACE INTO checkpoints (instance_id, seq, header, data)
SELECT i.id, i.seq, i.header, s.data FROM instances AS i JOIN snapshots AS s ON s.id = i.id
WHERE i.id = ? AND i.header IS NOT NULL AND i.seq IS NOT NULL
"""

UPSERT_SNAPSHOT = (
    "INSERT INTO snapshots (id, data) VALUES (?, ?) "
    "ON CONFLICT (id) DO UPDATE SET data = excluded.data"
)

# Every table and the column holding the id of the instance a row belongs to (`delete`).
INSTANCE_ROWS = (
    ("instances", "id"),
    ("snapshots", "id"),
    ("inbox", "instance_id"),
    ("history", "instance_id"),
    ("waits", "instance_id"),
    ("children", "instance_id"),
    ("leases", "instance_id"),
    ("checkpoints", "instance_id"),
)
