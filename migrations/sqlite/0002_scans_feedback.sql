-- Scans and consumer feedback (issue 5). Neither is a signed statement: they are
-- not in the log, and they are written with plain inserts, not the group writer.

-- One row per consumer scan of a label whose signature verified. `scanner` is
-- a salted hash of a coarse client fingerprint (network prefix + user agent);
-- the salt is the day's (scan_salts), so hashes link scans within one day only.
CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    unit        TEXT NOT NULL,             -- canonical Digital Link path
    time        INTEGER NOT NULL,          -- unix seconds
    day         INTEGER NOT NULL,          -- unix day of the salt used
    scanner     TEXT NOT NULL
);
CREATE INDEX scans_unit ON scans (unit, time);

-- The current day's random salt, shared by every server process. Salts of past
-- days are deleted, so a stored hash can no longer be tested against guessed IPs.
CREATE TABLE scan_salts (
    day         INTEGER PRIMARY KEY,
    salt        TEXT NOT NULL
);

-- Server-wide secrets created on first use (the feedback form's token key), so
-- several server processes behind one load balancer accept each other's forms.
CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);

-- Consumer feedback, problem reports and return/exchange requests. Text is
-- stored HTML-escaped. `scanner` (the day's hash) is kept for flood limits only
-- and is never returned by the API.
CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    unit        TEXT NOT NULL,
    batch       TEXT,
    unit_index  INTEGER,
    time        INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    scanner     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('feedback', 'return', 'exchange')),
    rating      INTEGER CHECK (rating BETWEEN 1 AND 5),
    category    TEXT,
    comment     TEXT NOT NULL,
    contact     TEXT,
    signature_ok INTEGER NOT NULL
);
CREATE INDEX feedback_unit ON feedback (unit, day);

-- Who may read each piece of feedback: the parties up the unit's chain.
CREATE TABLE feedback_parties (
    party       TEXT NOT NULL,
    feedback    INTEGER NOT NULL REFERENCES feedback (id),
    PRIMARY KEY (party, feedback)
);
