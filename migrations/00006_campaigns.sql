-- +goose Up

-- The IANA zone of the phone number's region or area, from phonenumbers (NULL until it has
-- been computed; '' when the number has none that is unambiguous). A local-time campaign
-- falls back to it when the contact has no timezone.
ALTER TABLE contacts ADD COLUMN phone_zone text;

-- The contacts whose phone_zone is still to compute (those written before this migration):
-- a launch fills them in batches. Empty once they are done, so it costs writes nothing.
CREATE INDEX contacts_phone_zone_missing_idx ON contacts (id) WHERE phone_zone IS NULL;

-- Campaigns: what to send (a template), from which accounts, to whom (a tag audience),
-- and when. audience, schedule and quiet_hours are small documents validated by the
-- campaigns package. status follows draft → scheduled → running → completed, with paused
-- and cancelled.
CREATE TABLE campaigns (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    template_id     bigint NOT NULL REFERENCES templates (id),
    account_ids     bigint[] NOT NULL DEFAULT '{}',
    audience        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(audience) = 'object'),
    schedule        jsonb NOT NULL DEFAULT '{"type":"now"}' CHECK (jsonb_typeof(schedule) = 'object'),
    quiet_hours     jsonb CHECK (jsonb_typeof(quiet_hours) = 'object'), -- NULL: the default
    rotation        text NOT NULL DEFAULT 'round_robin' CHECK (rotation IN ('round_robin', 'sticky')),
    rate_per_minute integer CHECK (rate_per_minute > 0), -- optional cap over all its accounts
    status          text NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
    status_reason   text NOT NULL DEFAULT '',
    -- the state a paused campaign resumes to (scheduled or running)
    paused_from     text CHECK (paused_from IN ('scheduled', 'running')),
    next_run_at     timestamptz, -- the next launch of a scheduled campaign
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX campaigns_due_idx ON campaigns (next_run_at) WHERE status = 'scheduled';
CREATE INDEX campaigns_active_idx ON campaigns (status) WHERE status IN ('running', 'paused');

-- One row per launch: a one-off campaign has one run, a cron campaign one per tick.
-- (campaign_id, run_at) is unique so that a launch task that runs twice finds its run.
CREATE TABLE campaign_runs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id      bigint NOT NULL REFERENCES campaigns (id),
    run_at           timestamptz NOT NULL,
    template_version integer NOT NULL DEFAULT 0,
    -- the template's category at launch: the frequency cap counts marketing runs only
    purpose          text NOT NULL DEFAULT 'marketing' CHECK (purpose IN ('marketing', 'utility')),
    status           text NOT NULL DEFAULT 'launching'
                     CHECK (status IN ('launching', 'running', 'completed', 'cancelled')),
    launched_at      timestamptz,
    completed_at     timestamptz,
    matched          bigint NOT NULL DEFAULT 0,
    eligible         bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, run_at)
);

-- Deliveries: one per run and contact, materialised at launch, eligible or not (a skipped
-- one says why). Postgres is the source of truth for every message: Asynq tasks carry a
-- delivery id only.
--
-- status: queued (waiting for due_at) → sending (a worker holds it) → sent → delivered →
-- read; or failed, skipped (at launch or send time, with skip_reason), cancelled (the
-- contact opted out, or the campaign was cancelled) and expired (not sent within its TTL).
-- message_id is derived from the delivery, so a retried send is the same message.
-- rendered is the text as sent: personal data, purged after retention, cleared on erasure.
CREATE TABLE deliveries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: the launch writes a run and its million deliveries in one
    -- transaction, and the key's trigger cost 3.4 s of a million-row launch.
    run_id        bigint NOT NULL,
    campaign_id   bigint NOT NULL,
    contact_id    bigint, -- NULL once the contact is deleted or erased
    status        text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'read',
                                                  'failed', 'skipped', 'cancelled', 'expired')),
    skip_reason   text, -- no_consent, withdrawn, suppressed, invalid_phone, frequency_capped,
                        -- excluded_tag, local_time_passed, opted_out, campaign_cancelled, …
    due_at        timestamptz NOT NULL,
    enqueued_at   timestamptz, -- when the dispatcher last gave it to Asynq
    attempts      integer NOT NULL DEFAULT 0,
    account_id    bigint,
    variant       integer, -- index of the variant in the chosen locale
    locale        text,
    message_id    text,    -- our id for the message (deterministic)
    provider_id   text,    -- the network's id, when it differs
    rendered      text,
    error         text,
    sent_at       timestamptz,
    delivered_at  timestamptz,
    read_at       timestamptz,
    failed_at     timestamptz,
    replied_at    timestamptz,
    opted_out_at  timestamptz, -- the recipient opted out after this message
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, contact_id)
);

-- The dispatcher's scan: due, queued deliveries in due order.
CREATE INDEX deliveries_due_idx ON deliveries (due_at) WHERE status = 'queued';
-- The reconciler's scan of sends a worker may have died holding.
CREATE INDEX deliveries_sending_idx ON deliveries (updated_at) WHERE status = 'sending';
-- Opt-out cancels a contact's pending deliveries; the frequency cap counts recent sends.
CREATE INDEX deliveries_contact_idx ON deliveries (contact_id, sent_at);
-- The frequency cap's scan of the messages sent in its window, across campaigns.
CREATE INDEX deliveries_sent_idx ON deliveries (sent_at) WHERE sent_at IS NOT NULL;
-- No (campaign_id, status) index: a launch pays for every index of a million rows. A
-- campaign's deliveries are found through its runs (the (run_id, contact_id) index), and
-- its pending ones through the partial indexes of queued and sending deliveries.
CREATE UNIQUE INDEX deliveries_message_idx ON deliveries (message_id) WHERE message_id IS NOT NULL;

-- What happened to a delivery, in order: receipts, failures, replies. Append-only.
CREATE TABLE delivery_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL,
    kind        text NOT NULL, -- sent, delivered, read, failed, replied, opted_out, expired, …
    detail      jsonb NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delivery_events_delivery_idx ON delivery_events (delivery_id, id);

-- A deleted contact leaves no message text behind: its deliveries lose the contact id, the
-- rendered text and the error (which may quote it), their events lose their detail, and
-- the ones not sent yet are cancelled. Statement-level, like consent's cleanup in
-- 00002_consent.sql, so that deleting many contacts is one pass.
-- +goose StatementBegin
CREATE FUNCTION campaigns_forget_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE delivery_events e SET detail = '{}'
    FROM deliveries d JOIN gone g ON d.contact_id = g.id
    WHERE e.delivery_id = d.id AND e.detail <> '{}';
    UPDATE deliveries d SET contact_id = NULL, rendered = NULL, error = NULL,
        status = CASE WHEN d.status = 'queued' THEN 'cancelled' ELSE d.status END,
        skip_reason = CASE WHEN d.status = 'queued' THEN 'contact_erased' ELSE d.skip_reason END,
        updated_at = now()
    FROM gone g WHERE d.contact_id = g.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER contacts_forget_deliveries AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION campaigns_forget_deleted_contacts();

-- +goose Down
DROP TRIGGER contacts_forget_deliveries ON contacts;
DROP FUNCTION campaigns_forget_deleted_contacts;
DROP TABLE delivery_events;
DROP TABLE deliveries;
DROP TABLE campaign_runs;
DROP TABLE campaigns;
DROP INDEX contacts_phone_zone_missing_idx;
ALTER TABLE contacts DROP COLUMN phone_zone;
