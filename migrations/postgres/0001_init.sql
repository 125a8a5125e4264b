-- suyuan schema, PostgreSQL. Statement tables are append-only: triggers refuse UPDATE, DELETE and TRUNCATE.

CREATE TABLE parties (
    slug        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('factory', 'b1', 'b2', 'inspector')),
    gln         TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,
    party       TEXT REFERENCES parties (slug),
    created_at  TEXT NOT NULL
);

CREATE TABLE statements (
    seq         BIGINT PRIMARY KEY,
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
    statement   TEXT
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
    quantity    BIGINT NOT NULL,
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
    first       BIGINT NOT NULL,
    last        BIGINT NOT NULL
);
CREATE INDEX event_objects_range ON event_objects (batch, first);

-- Each advance names the head it replaces (prev); a trigger refuses any other,
-- so the compare-and-swap on a batch's chain is enforced by the database itself.
CREATE TABLE chain_heads (
    batch       TEXT PRIMARY KEY,
    head        TEXT NOT NULL,
    prev        TEXT
);

CREATE TABLE holdings (
    batch       TEXT NOT NULL,
    first       BIGINT NOT NULL,
    last        BIGINT NOT NULL,
    holder      TEXT NOT NULL,
    disposition TEXT NOT NULL,
    shipment    TEXT,
    dest        TEXT,
    recall      TEXT,
    PRIMARY KEY (batch, first)
);
CREATE INDEX holdings_holder ON holdings (holder);
CREATE INDEX holdings_shipment ON holdings (shipment);

-- One row; appenders lock it (SELECT ... FOR UPDATE) so leaf indexes never gap or fork.
CREATE TABLE log_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    size        BIGINT NOT NULL
);
INSERT INTO log_state (id, size) VALUES (1, 0);

CREATE FUNCTION suyuan_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE FUNCTION suyuan_log_never_shrinks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size < OLD.size THEN
        RAISE EXCEPTION 'the log never shrinks';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION suyuan_chain_head_cas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.prev IS DISTINCT FROM OLD.head OR NEW.batch IS DISTINCT FROM OLD.batch THEN
        RAISE EXCEPTION 'chain head moved on: prev is not the current head';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER chain_heads_cas BEFORE UPDATE ON chain_heads
    FOR EACH ROW EXECUTE FUNCTION suyuan_chain_head_cas();
CREATE TRIGGER chain_heads_no_delete BEFORE DELETE OR TRUNCATE ON chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();

CREATE TRIGGER statements_append_only BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER statements_no_truncate BEFORE TRUNCATE ON statements
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER keys_append_only BEFORE UPDATE OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER keys_no_truncate BEFORE TRUNCATE ON keys
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER revocations_append_only BEFORE UPDATE OR DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER revocations_no_truncate BEFORE TRUNCATE ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER batches_append_only BEFORE UPDATE OR DELETE ON batches
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER batches_no_truncate BEFORE TRUNCATE ON batches
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER event_objects_append_only BEFORE UPDATE OR DELETE ON event_objects
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER event_objects_no_truncate BEFORE TRUNCATE ON event_objects
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER log_state_never_shrinks BEFORE UPDATE ON log_state
    FOR EACH ROW EXECUTE FUNCTION suyuan_log_never_shrinks();
CREATE TRIGGER log_state_no_delete BEFORE DELETE OR TRUNCATE ON log_state
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
