-- The dock pages (issue 6): dock users with argon2 password hashes, their
-- sessions (the cookie's id is kept only as a SHA-256 hash), and station keys
-- a browser generated and that wait for the party's root key to certify them.
-- Plain mutable tables, not statements: nothing here is signed or logged.

CREATE TABLE dock_users (
    party         TEXT NOT NULL REFERENCES parties (slug),
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created       INTEGER NOT NULL,
    PRIMARY KEY (party, name)
);

CREATE TABLE dock_sessions (
    id_hash     TEXT PRIMARY KEY,
    party       TEXT NOT NULL,
    name        TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    expires     INTEGER NOT NULL,
    FOREIGN KEY (party, name) REFERENCES dock_users (party, name)
);
CREATE INDEX dock_sessions_expires ON dock_sessions (expires);

CREATE TABLE dock_stations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    party       TEXT NOT NULL REFERENCES parties (slug),
    public_key  TEXT NOT NULL UNIQUE,
    key_id      TEXT NOT NULL,
    label       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created     INTEGER NOT NULL
);
