-- How many units each event covered (containers expanded), written with the
-- event: a shipment's expected units (GET /api/v1/shipments/{id}) are one
-- lookup by the events key. (An index on event_objects(event) served the same
-- read but cost 5-15% of SQLite's append rate.) NULL on events stored before
-- this column, whose count is summed from event_objects.
ALTER TABLE events ADD COLUMN units BIGINT;
