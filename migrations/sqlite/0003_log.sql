-- Transparency log (issue 7): every checkpoint the servers signed, kept before it is published.
-- Append-only, and never smaller than the largest one already stored.
CREATE TABLE checkpoints (
    size        INTEGER PRIMARY KEY,
    root        TEXT NOT NULL,             -- hex RFC 6962 root hash
    note        TEXT NOT NULL,             -- the C2SP signed note as served
    verifier    TEXT NOT NULL,             -- verifier key name+id+key that signed it
    signed_at   TEXT NOT NULL
);

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_never_shrink BEFORE INSERT ON checkpoints
WHEN NEW.size < (SELECT COALESCE(MAX(size), 0) FROM checkpoints)
BEGIN SELECT RAISE(ABORT, 'a checkpoint may not be smaller than the last one'); END;
CREATE TRIGGER checkpoints_within_log BEFORE INSERT ON checkpoints
WHEN NEW.size > (SELECT size FROM log_state WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'a checkpoint may not be larger than the log'); END;
