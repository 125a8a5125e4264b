-- A shipment's expected units are read by event (GET /api/v1/shipments/{id}),
-- which without this index would scan every event's objects.
CREATE INDEX event_objects_event ON event_objects (event);
