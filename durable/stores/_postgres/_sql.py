"""The SQL of `PostgresStateStore`: the versioned DDL and the statements, as templates.

``{s}`` stands for the store's schema, quoted as an identifier (``psycopg.sql.Identifier``)
once when the store opens; parameters are always bound, never formatted in. This module
imports no driver: it is text.
"""

from __future__ import annotations

from ..._model import FINISHED

__all__ = [
    "CHECKPOINT",
    "CLAIM",
    "CLAIM_READY",
    "COMMIT",
    "DELETE",
    "LONG_ID",
    "MIGRATIONS",
    "PUBLISH",
    "READ",
    "READ_INBOX",
    "READY",
    "SAVE",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 1

#: Ids longer than this many bytes travel in a notification as a hash (module docstring of
#: `_store`): hex doubles the length and a payload holds at most 7999 bytes.
LONG_ID = 3900

_FINISHED_SQL = ", ".join(f"'{status}'" for status in sorted(FINISHED))

# Step i takes a schema from version i to i + 1 (step 0 creates it). Every id and caller-given
# string is bytea (UTF-8 with surrogatepass): text cannot hold NUL or a lone surrogate, and
# bytea compares bytewise, in code point order. Times are bigint microseconds since the Unix
# epoch (UTC), exact and ordered, as in the SQLite store.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {s}.instances (
            id bytea PRIMARY KEY,
            seq bigint,
            status text,
            program bytea,
            wake_at bigint,
            children_mode text,
            parent bytea,
            created_at bigint,
            updated_at bigint,
            header bytea,
            data bytea NOT NULL
        )""",
        "CREATE INDEX instances_wake ON {s}.instances (wake_at) WHERE status = 'paused'",
        "CREATE INDEX instances_updated ON {s}.instances (updated_at, id)",
        f"CREATE INDEX instances_long_id ON {{s}}.instances (sha256(id)) "
        f"WHERE length(id) > {LONG_ID}",
        """CREATE TABLE {s}.inbox (
            instance_id bytea NOT NULL,
            event_id bytea NOT NULL,
            name bytea NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (instance_id, event_id)
        )""",
        "CREATE INDEX inbox_name ON {s}.inbox (name, instance_id)",
        f"CREATE INDEX inbox_long_id ON {{s}}.inbox (sha256(instance_id)) "
        f"WHERE length(instance_id) > {LONG_ID}",
        """CREATE TABLE {s}.history (
            n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            instance_id bytea NOT NULL,
            entry bytea NOT NULL
        )""",
        "CREATE INDEX history_instance ON {s}.history (instance_id, n)",
        """CREATE TABLE {s}.waits (
            instance_id bytea NOT NULL,
            name bytea NOT NULL,
            PRIMARY KEY (instance_id, name)
        )""",
        """CREATE TABLE {s}.children (
            instance_id bytea NOT NULL,
            position integer NOT NULL,
            child_id bytea NOT NULL,
            first boolean NOT NULL,
            PRIMARY KEY (instance_id, position)
        )""",
        """CREATE TABLE {s}.checkpoints (
            instance_id bytea NOT NULL,
            seq bigint NOT NULL,
            header bytea NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (instance_id, seq)
        )""",
        """CREATE TABLE {s}.leases (
            instance_id bytea PRIMARY KEY,
            owner bytea NOT NULL,
            until bigint NOT NULL
        )""",
        # The seq of a snapshot saved through `save` (no header): read from its JSON, -1 when
        # there is none, so that such a snapshot is never overwritten by mistake.
        """CREATE FUNCTION {s}.legacy_seq(snapshot bytea) RETURNS bigint
        LANGUAGE plpgsql IMMUTABLE AS $$
        DECLARE
            value jsonb;
        BEGIN
            value := convert_from(snapshot, 'UTF8')::jsonb;
            IF jsonb_typeof(value) = 'object' AND jsonb_typeof(value -> 'seq') = 'number' THEN
                RETURN (value ->> 'seq')::bigint;
            END IF;
            RETURN -1;
        EXCEPTION WHEN others THEN
            RETURN -1;
        END $$""",
        # One checkpoint, in one round trip: the lease check (its row share-locked, so that no
        # claim can slip in before this transaction ends), the compare-and-set on seq (the
        # instance row locked), the upsert, waits/children rewritten, consumed events deleted,
        # history appended, the lease released when the instance stops running, and the
        # wake-up of a waiting parent.
        """CREATE FUNCTION {s}.commit_instance(
            k bytea, expected bigint, by bytea, snapshot bytea, hdr bytea,
            h_seq bigint, h_status text, h_program bytea, h_wake bigint, h_mode text,
            h_parent bytea, h_created bigint, h_updated bigint,
            awaited bytea[], kids bytea[], consumed bytea[], entries bytea[],
            channel text, wake text, keep integer
        ) RETURNS boolean LANGUAGE plpgsql AS $$
        DECLARE
            held bytea;
            stored bigint;
            old_data bytea;
            old_header bytea;
        BEGIN
            IF by IS NOT NULL THEN
                SELECT owner INTO held FROM {s}.leases WHERE instance_id = k FOR SHARE;
                IF held IS NOT NULL AND held <> by THEN
                    RETURN false;
                END IF;
            END IF;
            SELECT seq, data, header INTO stored, old_data, old_header
                FROM {s}.instances WHERE id = k FOR UPDATE;
            IF NOT FOUND THEN
                IF expected <> 0 THEN
                    RETURN false;
                END IF;
                INSERT INTO {s}.instances (id, seq, status, program, wake_at, children_mode,
                    parent, created_at, updated_at, header, data)
                VALUES (k, h_seq, h_status, h_program, h_wake, h_mode, h_parent, h_created,
                    h_updated, hdr, snapshot)
                ON CONFLICT (id) DO NOTHING;
                IF NOT FOUND THEN
                    RETURN false;  -- a concurrent first checkpoint won
                END IF;
            ELSE
                IF coalesce(stored, {s}.legacy_seq(old_data)) <> expected THEN
                    RETURN false;
                END IF;
                -- the superseded checkpoint is retained (one saved without a header is not),
                -- and the one that falls out of the last `keep` is dropped
                IF keep > 0 AND stored IS NOT NULL AND old_header IS NOT NULL THEN
                    INSERT INTO {s}.checkpoints (instance_id, seq, header, data)
                    VALUES (k, stored, old_header, old_data)
                    ON CONFLICT (instance_id, seq) DO UPDATE
                        SET header = excluded.header, data = excluded.data;
                END IF;
                DELETE FROM {s}.checkpoints WHERE instance_id = k AND seq <= expected - keep;
                UPDATE {s}.instances SET seq = h_seq, status = h_status, program = h_program,
                    wake_at = h_wake, children_mode = h_mode, parent = h_parent,
                    created_at = h_created, updated_at = h_updated, header = hdr,
                    data = snapshot
                WHERE id = k;
                DELETE FROM {s}.waits WHERE instance_id = k;
                DELETE FROM {s}.children WHERE instance_id = k;
            END IF;
            IF h_status = 'paused' THEN
                INSERT INTO {s}.waits (instance_id, name)
                    SELECT DISTINCT k, a FROM unnest(awaited) AS a;
                INSERT INTO {s}.children (instance_id, position, child_id, first)
                    SELECT k, n - 1, c, h_mode = 'first'
                    FROM unnest(kids) WITH ORDINALITY AS t(c, n);
            END IF;
            IF cardinality(consumed) > 0 THEN
                DELETE FROM {s}.inbox WHERE instance_id = k AND event_id = ANY(consumed);
            END IF;
            INSERT INTO {s}.history (instance_id, entry)
                SELECT k, e FROM unnest(entries) WITH ORDINALITY AS t(e, n) ORDER BY n;
            IF by IS NOT NULL AND h_status <> 'running' THEN
                DELETE FROM {s}.leases WHERE instance_id = k;
            END IF;
            IF wake IS NOT NULL THEN
                PERFORM pg_notify(channel, wake);
            END IF;
            RETURN true;
        END $$""",
    ),
)

COMMIT = (
    "SELECT {s}.commit_instance(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s::bytea[], %s::bytea[], %s::bytea[], %s::bytea[], %s, %s, %s)"
)

# The snapshot alone (the seed contract's `save`): the header columns become NULL.
SAVE = """
WITH w AS (DELETE FROM {s}.waits WHERE instance_id = %(k)s),
c AS (DELETE FROM {s}.children WHERE instance_id = %(k)s)
INSERT INTO {s}.instances (id, data) VALUES (%(k)s, %(data)s)
ON CONFLICT (id) DO UPDATE SET seq = NULL, status = NULL, program = NULL, wake_at = NULL,
    children_mode = NULL, parent = NULL, created_at = NULL, updated_at = NULL, header = NULL,
    data = excluded.data
"""

# Header, snapshot and inbox in one statement (one snapshot of the database, one round trip).
READ = """
SELECT i.header, i.data,
    ARRAY(SELECT e.event_id FROM {s}.inbox AS e WHERE e.instance_id = %(k)s
        ORDER BY e.event_id),
    ARRAY(SELECT e.name FROM {s}.inbox AS e WHERE e.instance_id = %(k)s ORDER BY e.event_id),
    ARRAY(SELECT e.data FROM {s}.inbox AS e WHERE e.instance_id = %(k)s ORDER BY e.event_id)
FROM (SELECT 1) AS one LEFT JOIN {s}.instances AS i ON i.id = %(k)s
"""

READ_INBOX = """
SELECT event_id, name, data FROM {s}.inbox WHERE instance_id = %(k)s ORDER BY event_id
"""

# Checkpoint `seq`: the current one or a retained one.
CHECKPOINT = """
SELECT header, data FROM {s}.instances
    WHERE id = %(k)s AND seq = %(seq)s AND header IS NOT NULL
UNION ALL
SELECT header, data FROM {s}.checkpoints WHERE instance_id = %(k)s AND seq = %(seq)s
LIMIT 1
"""

# Every row of one instance in every table, in one statement; rows of other instances that
# name it (a parent's `children`) stay: they belong to that parent's header.
DELETE = """
WITH i AS (DELETE FROM {s}.instances WHERE id = %(k)s RETURNING 1),
e AS (DELETE FROM {s}.inbox WHERE instance_id = %(k)s RETURNING 1),
h AS (DELETE FROM {s}.history WHERE instance_id = %(k)s RETURNING 1),
w AS (DELETE FROM {s}.waits WHERE instance_id = %(k)s RETURNING 1),
c AS (DELETE FROM {s}.children WHERE instance_id = %(k)s RETURNING 1),
l AS (DELETE FROM {s}.leases WHERE instance_id = %(k)s RETURNING 1),
p AS (DELETE FROM {s}.checkpoints WHERE instance_id = %(k)s RETURNING 1)
SELECT EXISTS (SELECT 1 FROM i UNION ALL SELECT 1 FROM e UNION ALL SELECT 1 FROM h
    UNION ALL SELECT 1 FROM l UNION ALL SELECT 1 FROM p)
"""

PUBLISH = """
WITH e AS (
    INSERT INTO {s}.inbox (instance_id, event_id, name, data)
    VALUES (%(k)s, %(event_id)s, %(name)s, %(data)s)
    ON CONFLICT (instance_id, event_id) DO UPDATE SET name = excluded.name, data = excluded.data
), h AS (
    INSERT INTO {s}.history (instance_id, entry)
    SELECT %(k)s, x FROM unnest(%(entries)s::bytea[]) WITH ORDINALITY AS t(x, n) ORDER BY n
)
SELECT pg_notify(%(channel)s, %(wake)s)
"""

# Paused instances whose wait resolves now: four indexed sub-queries (wake time passed; an
# awaited event in the inbox; the cancellation event in the inbox; children finished), the
# conditions of `durable._model.is_ready`, oldest update first.
_READY_IDS = f"""
    SELECT id FROM {{s}}.instances WHERE status = 'paused' AND wake_at <= %(now)s
    UNION
    SELECT p.id FROM {{s}}.inbox AS e JOIN {{s}}.instances AS p ON p.id = e.instance_id
        WHERE e.name = %(cancel)s AND p.status = 'paused'
    UNION
    SELECT p.id FROM {{s}}.waits AS w JOIN {{s}}.instances AS p ON p.id = w.instance_id
        WHERE p.status = 'paused' AND EXISTS (
            SELECT 1 FROM {{s}}.inbox AS e
            WHERE e.instance_id = w.instance_id AND e.name = w.name)
    UNION
    SELECT p.id FROM (
        SELECT c.instance_id AS id, bool_or(c.first) AS first,
            bool_and(coalesce(k.status IN ({_FINISHED_SQL}), false)) AS all_done,
            bool_or(coalesce(k.status IN ({_FINISHED_SQL}), false)) AS any_done
        FROM {{s}}.children AS c LEFT JOIN {{s}}.instances AS k ON k.id = c.child_id
        GROUP BY c.instance_id
    ) AS g JOIN {{s}}.instances AS p ON p.id = g.id
        WHERE p.status = 'paused' AND (CASE WHEN g.first THEN g.any_done ELSE g.all_done END)
"""

READY = f"""
SELECT i.id FROM {{s}}.instances AS i WHERE i.id IN ({_READY_IDS})
ORDER BY i.updated_at, i.id LIMIT %(limit)s
"""

# Take or renew a lease; the WHERE of the upsert is checked against the latest committed
# lease row (READ COMMITTED upserts lock and re-read it), so two claimers never both win.
RENEW = """
UPDATE {s}.leases SET until = %(until)s WHERE instance_id = %(k)s AND owner = %(by)s RETURNING 1
"""

CLAIM = """
INSERT INTO {s}.leases (instance_id, owner, until) VALUES (%(k)s, %(by)s, %(until)s)
ON CONFLICT (instance_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
    WHERE {s}.leases.owner = excluded.owner OR {s}.leases.until <= %(now)s
RETURNING 1
"""

# `claim_ready` in one statement: the roots (no parent) of the ready instances, found by
# following `parent` upwards (at most 100 levels; a cycle has no root), of the wanted programs
# (NULL: any), not leased to another live owner, their rows locked with SKIP LOCKED (an
# instance another worker is claiming or committing right now is left to it), then leased
# with the same guarded upsert as CLAIM.
CLAIM_READY = f"""
WITH RECURSIVE up (id, parent, depth) AS (
    SELECT i.id, i.parent, 0 FROM {{s}}.instances AS i WHERE i.id IN ({_READY_IDS})
    UNION
    SELECT p.id, p.parent, u.depth + 1 FROM up AS u JOIN {{s}}.instances AS p ON p.id = u.parent
    WHERE u.depth < 100
), picked AS (
    SELECT i.id, i.updated_at FROM {{s}}.instances AS i
    WHERE i.id IN (SELECT id FROM up WHERE parent IS NULL) AND i.header IS NOT NULL
        AND (%(programs)s::bytea[] IS NULL OR i.program = ANY(%(programs)s::bytea[]))
        AND NOT EXISTS (
            SELECT 1 FROM {{s}}.leases AS l
            WHERE l.instance_id = i.id AND l.owner <> %(by)s AND l.until > %(now)s)
    ORDER BY i.updated_at, i.id LIMIT %(limit)s
    FOR UPDATE OF i SKIP LOCKED
), claimed AS (
    INSERT INTO {{s}}.leases (instance_id, owner, until)
    SELECT id, %(by)s, %(until)s FROM picked ORDER BY id
    ON CONFLICT (instance_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
        WHERE {{s}}.leases.owner = excluded.owner OR {{s}}.leases.until <= %(now)s
    RETURNING instance_id
)
SELECT p.id FROM picked AS p JOIN claimed AS c ON c.instance_id = p.id
ORDER BY p.updated_at, p.id
"""
