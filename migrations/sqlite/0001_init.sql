-- suyuan schema, SQLite. Statement tables are append-only: triggers refuse UPDATE and DELETE.

CREATE TABLE parties (
    slug        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('factory', 'b1', 'b2', 'inspector')),
    gln         TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,          -- hex SHA-256 of the bearer token
    party       TEXT REFERENCES parties (slug),  -- NULL for the operator's admin token
    created_at  TEXT NOT NULL
);

-- Every accepted statement; seq is its leaf index in the transparency log.
CREATE TABLE statements (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    party       TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    time        TEXT NOT NULL,
    json        TEXT NOT NULL,
    leaf_hash   TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE TABLE keys (
    key_id      TEXT PRIMARY KEY,
    party       TEXT NOT NULL REFERENCES parties (slug),
    public_key  TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    not_before  TEXT,
    not_after   TEXT,
    statement   TEXT                       -- certifying statement; NULL for root keys
);

CREATE TABLE revocations (
    key_id      TEXT PRIMARY KEY REFERENCES keys (key_id),
    time        TEXT NOT NULL,
    statement   TEXT NOT NULL
);

CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    party       TEXT NOT NULL,
    gtin        TEXT NOT NULL,
    lot         TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    UNIQUE (gtin, lot)
);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    party       TEXT NOT NULL,
    dest        TEXT,
    shipment    TEXT
);
CREATE INDEX events_dest ON events (dest);

CREATE TABLE event_objects (
    event       TEXT NOT NULL,
    batch       TEXT NOT NULL,
    first       INTEGER NOT NULL,
    last        INTEGER NOT NULL
);
CREATE INDEX event_objects_range ON event_objects (batch, first);

-- Derived state, rewritten inside the same transaction as the statement that changes it.
-- Each advance names the head it replaces (prev); a trigger refuses any other,
-- so the compare-and-swap on a batch's chain is enforced by the database itself.
CREATE TABLE chain_heads (
    batch       TEXT PRIMARY KEY,
    head        TEXT NOT NULL,
    prev        TEXT
);

CREATE TABLE holdings (
    batch       TEXT NOT NULL,
    first       INTEGER NOT NULL,
    last        INTEGER NOT NULL,
    holder      TEXT NOT NULL,
    disposition TEXT NOT NULL,
    shipment    TEXT,
    dest        TEXT,
    recall      TEXT,
    PRIMARY KEY (batch, first)
);
CREATE INDEX holdings_holder ON holdings (holder);
CREATE INDEX holdings_shipment ON holdings (shipment);

CREATE TABLE log_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    size        INTEGER NOT NULL
);
INSERT INTO log_state (id, size) VALUES (1, 0);

CREATE TRIGGER statements_no_update BEFORE UPDATE ON statements
BEGIN SELECT RAISE(ABORT, 'statements are append-only'); END;
CREATE TRIGGER statements_no_delete BEFORE DELETE ON statements
BEGIN SELECT RAISE(ABORT, 'statements are append-only'); END;
CREATE TRIGGER keys_no_update BEFORE UPDATE ON keys
BEGIN SELECT RAISE(ABORT, 'keys are append-only'); END;
CREATE TRIGGER keys_no_delete BEFORE DELETE ON keys
BEGIN SELECT RAISE(ABORT, 'keys are append-only'); END;
CREATE TRIGGER revocations_no_update BEFORE UPDATE ON revocations
BEGIN SELECT RAISE(ABORT, 'revocations are append-only'); END;
CREATE TRIGGER revocations_no_delete BEFORE DELETE ON revocations
BEGIN SELECT RAISE(ABORT, 'revocations are append-only'); END;
CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches
BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;
CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches
BEGIN SELECT RAISE(ABORT, 'batches are append-only'); END;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER event_objects_no_update BEFORE UPDATE ON event_objects
BEGIN SELECT RAISE(ABORT, 'event objects are append-only'); END;
CREATE TRIGGER event_objects_no_delete BEFORE DELETE ON event_objects
BEGIN SELECT RAISE(ABORT, 'event objects are append-only'); END;
-- The leaf index of a new statement must be the current log size, and storing it
-- grows the log by one: no gap and no reuse, whatever the code above does.
CREATE TRIGGER statements_leaf_index BEFORE INSERT ON statements
WHEN NEW.seq IS NOT (SELECT size FROM log_state WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'leaf index must equal the log size'); END;
CREATE TRIGGER statements_grow_log AFTER INSERT ON statements
BEGIN UPDATE log_state SET size = size + 1 WHERE id = 1; END;

CREATE TRIGGER chain_heads_cas BEFORE UPDATE ON chain_heads
WHEN NEW.prev IS NOT OLD.head OR NEW.batch IS NOT OLD.batch
BEGIN SELECT RAISE(ABORT, 'chain head moved on: prev is not the current head'); END;
CREATE TRIGGER chain_heads_no_delete BEFORE DELETE ON chain_heads
BEGIN SELECT RAISE(ABORT, 'chain heads are never deleted'); END;

CREATE TRIGGER log_state_no_shrink BEFORE UPDATE ON log_state
WHEN NEW.size < OLD.size
BEGIN SELECT RAISE(ABORT, 'the log never shrinks'); END;

-- The log's size row may grow but never go away (PostgreSQL refuses DELETE and TRUNCATE alike).
CREATE TRIGGER log_state_no_delete BEFORE DELETE ON log_state
BEGIN SELECT RAISE(ABORT, 'the log never shrinks'); END;
