-- Bytes of footage each tenant kept, by the hour: the most its leased TenantActor saw in that hour.
-- One writer per tenant (the lease holder, fenced by the lease's epoch); billing reads byte-hours.
CREATE TABLE tenant_storage_hours (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hour      timestamptz NOT NULL,
    bytes     bigint NOT NULL CHECK (bytes >= 0),
    node      text NOT NULL,
    epoch     bigint NOT NULL,
    PRIMARY KEY (tenant_id, hour)
);
