-- Ticket acknowledgement limit per tenant, and when a ticket was escalated for missing it.
ALTER TABLE tenants ADD COLUMN ack_sla_seconds integer CHECK (ack_sla_seconds > 0);
ALTER TABLE tickets ADD COLUMN escalated_at timestamptz;
ALTER TABLE events ADD COLUMN ticket_id uuid;
CREATE INDEX tickets_awaiting_ack ON tickets (opened_at) WHERE state = 'open' AND escalated_at IS NULL;

-- Notification channels of a tenant: a signed webhook or e-mail recipients.
CREATE TABLE notification_channels (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('webhook', 'email')),
    url         text,
    secret      text,
    recipients  text[] NOT NULL DEFAULT '{}',
    kinds       text[] NOT NULL DEFAULT '{}',
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- One row per (channel, event): queued with the event in one transaction, retried with backoff,
-- dead after the last attempt (kept, visible and retryable through the API).
CREATE TABLE notification_deliveries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel_id       uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    kind             text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at DESC, id);
