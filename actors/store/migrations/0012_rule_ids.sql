-- Events and tickets name the rule that raised them by id as well as by name: a rule deleted and
-- created again under the same name is another rule, and its events open their own ticket.
ALTER TABLE events ADD COLUMN rule_id uuid;
ALTER TABLE tickets ADD COLUMN rule_id uuid;
UPDATE events e SET rule_id = r.id FROM rules r WHERE r.camera_id = e.camera_id AND r.name = e.rule;
UPDATE tickets t SET rule_id = r.id FROM rules r WHERE r.camera_id = t.camera_id AND r.name = t.rule;
-- One unfinished ticket per camera and rule id (per rule name for rows without an id).
DROP INDEX tickets_active;
CREATE UNIQUE INDEX tickets_active_rule ON tickets (camera_id, rule_id)
    WHERE state IN ('open', 'acknowledged') AND rule_id IS NOT NULL;
CREATE UNIQUE INDEX tickets_active_name ON tickets (camera_id, rule)
    WHERE state IN ('open', 'acknowledged') AND rule_id IS NULL;
