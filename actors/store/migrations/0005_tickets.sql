-- Tickets: an event opens one, or joins the open one of the same camera and rule.
CREATE TABLE tickets (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    camera_id     uuid NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    rule          text NOT NULL,
    kind          text NOT NULL,
    state         text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'closed')),
    assignee      uuid REFERENCES users (id) ON DELETE SET NULL,
    events        integer NOT NULL DEFAULT 1,
    first_event   uuid NOT NULL,
    last_event    uuid NOT NULL,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- At most one unfinished ticket per camera and rule.
CREATE UNIQUE INDEX tickets_active ON tickets (camera_id, rule) WHERE state IN ('open', 'acknowledged');
CREATE INDEX tickets_tenant ON tickets (tenant_id, opened_at DESC, id);

CREATE TABLE ticket_history (
    id        bigserial PRIMARY KEY,
    ticket_id uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    state     text NOT NULL,
    comment   text
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);
