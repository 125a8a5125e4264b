-- Transparency log (issue 7): every checkpoint the servers signed, kept before it is published.
-- Append-only, and never smaller than the largest one already stored.
CREATE TABLE checkpoints (
    size        BIGINT PRIMARY KEY,
    root        TEXT NOT NULL,
    note        TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    signed_at   TEXT NOT NULL
);

CREATE FUNCTION suyuan_checkpoint_grows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.size < (SELECT COALESCE(MAX(size), 0) FROM checkpoints) THEN
        RAISE EXCEPTION 'a checkpoint may not be smaller than the last one';
    END IF;
    IF NEW.size > (SELECT size FROM log_state WHERE id = 1) THEN
        RAISE EXCEPTION 'a checkpoint may not be larger than the log';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER checkpoints_grow BEFORE INSERT ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION suyuan_checkpoint_grows();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION suyuan_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION suyuan_append_only();
