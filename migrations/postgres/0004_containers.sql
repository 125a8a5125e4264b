-- Aggregation (packing): which SSCC container holds which loose units and which
-- other containers. Derived state like holdings, rewritten by packing and
-- unpacking events in the same transaction as the event itself.

CREATE TABLE containers (
    sscc        TEXT PRIMARY KEY,
    parent      TEXT,
    party       TEXT NOT NULL,
    packed_by   TEXT NOT NULL
);
CREATE INDEX containers_parent ON containers (parent);

-- A unit is in at most one container: ranges never overlap within a batch.
CREATE TABLE container_units (
    sscc        TEXT NOT NULL,
    batch       TEXT NOT NULL,
    first       BIGINT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (batch, first)
);
CREATE INDEX container_units_sscc ON container_units (sscc);
