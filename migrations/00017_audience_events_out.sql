-- +goose Up
-- Saved segments: a named audience filter (campaigns.Filter as JSON), read live at each
-- launch and preview of the campaigns that use it.
CREATE TABLE segments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    filter      jsonb NOT NULL CHECK (jsonb_typeof(filter) = 'object'),
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX segments_name_idx ON segments (lower(name));

-- A campaign's audience is an inline filter (campaigns.audience) or a saved segment. A
-- segment in use by a scheduled, running or paused campaign cannot be deleted (the API
-- answers 409); a draft, completed or cancelled campaign lets it go and keeps the filter
-- it last resolved in audience.
ALTER TABLE campaigns ADD COLUMN segment_id bigint REFERENCES segments (id) ON DELETE SET NULL;
CREATE INDEX campaigns_segment_idx ON campaigns (segment_id) WHERE segment_id IS NOT NULL;

-- The replies inbox: the campaign message a reply answered (set when the reply is counted
-- on it), and whether someone has handled it.
ALTER TABLE inbound_messages
    ADD COLUMN delivery_id bigint,
    ADD COLUMN campaign_id bigint,
    ADD COLUMN handled_at  timestamptz,
    ADD COLUMN handled_by  text NOT NULL DEFAULT '';
CREATE INDEX inbound_messages_campaign_idx ON inbound_messages (campaign_id, id) WHERE campaign_id IS NOT NULL;
CREATE INDEX inbound_messages_unhandled_idx ON inbound_messages (id) WHERE handled_at IS NULL;

-- Outbound webhooks. An endpoint's secrets are sealed (internal/secretbox) under
-- CRIER_SECRET_KEY: Crier must sign with them, so it keeps them, but never in clear. During a
-- rotation the previous secret signs too, until previous_expires_at.
CREATE TABLE webhook_endpoints (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                 text NOT NULL,
    description         text NOT NULL DEFAULT '',
    events              text[] NOT NULL CHECK (cardinality(events) > 0),
    include_pii         boolean NOT NULL DEFAULT false,
    secret_sealed       text NOT NULL,
    previous_sealed     text,
    previous_expires_at timestamptz,
    enabled             boolean NOT NULL DEFAULT true,
    disabled_reason     text NOT NULL DEFAULT '',
    -- the first failure of the current streak; NULL after a success. Three days of
    -- failures disable the endpoint.
    failing_since       timestamptz,
    created_by          text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One event for one endpoint: the delivery log. The payload is built once, when the event
-- is relayed, so that a retry and a replay send the same bytes' content. event_id is
-- derived from the source row (e.g. "de_123" for delivery event 123), so relaying a row
-- twice delivers it once.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,          -- the HTTP status of the last attempt; NULL: no answer
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at timestamptz,      -- pending: when the next attempt is due
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Where the relay has read each source log up to: events are relayed from the append-only
-- logs (delivery_events, consent_ledger, …) by their recorded time, once every transaction
-- that could still add rows before it has ended.
CREATE TABLE webhook_relay (
    source     text PRIMARY KEY,
    read_until timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The relay reads the logs by recorded time. They are append-only, so a BRIN index costs
-- next to nothing to keep and narrows the scan to the recent blocks.
CREATE INDEX delivery_events_recorded_brin ON delivery_events USING brin (recorded_at);
CREATE INDEX consent_ledger_recorded_brin ON consent_ledger USING brin (recorded_at);

-- +goose Down
DROP INDEX consent_ledger_recorded_brin;
DROP INDEX delivery_events_recorded_brin;
DROP TABLE webhook_relay;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP INDEX inbound_messages_unhandled_idx;
DROP INDEX inbound_messages_campaign_idx;
ALTER TABLE inbound_messages DROP COLUMN delivery_id, DROP COLUMN campaign_id,
    DROP COLUMN handled_at, DROP COLUMN handled_by;
DROP INDEX campaigns_segment_idx;
ALTER TABLE campaigns DROP COLUMN segment_id;
DROP TABLE segments;
