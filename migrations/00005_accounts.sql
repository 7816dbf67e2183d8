-- +goose Up

-- Sending accounts: one WhatsApp number (or a simulated one) each. status is the
-- connection's state as the workers last saw it; a paused account (by ops, or by itself
-- after a ban signal or too many errors) has paused_at and a reason, and sends nothing.
-- Accounts are soft-deleted: deliveries keep pointing at the account that sent them.
CREATE TABLE accounts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL,
    channel           text NOT NULL CHECK (channel IN ('whatsapp', 'sandbox')),
    status            text NOT NULL CHECK (status IN ('pending_pair', 'connected', 'disconnected', 'logged_out', 'banned')),
    status_reason     text NOT NULL DEFAULT '',
    paused_at         timestamptz,
    paused_reason     text NOT NULL DEFAULT '',
    phone             text NOT NULL DEFAULT '', -- the account's own number, once paired
    rate_per_minute   integer NOT NULL CHECK (rate_per_minute > 0),
    daily_cap         integer NOT NULL DEFAULT 0 CHECK (daily_cap >= 0),
    warmup            boolean NOT NULL DEFAULT false,
    warmup_started_on date,
    pacing            boolean NOT NULL DEFAULT false,
    proxy_url         text NOT NULL DEFAULT '',
    sandbox           jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);

CREATE UNIQUE INDEX accounts_name_idx ON accounts (lower(name)) WHERE deleted_at IS NULL;

-- Crier's map from an account to its linked whatsmeow device: this migration is its
-- only definition; sender/whatsapp reads and writes the rows.
CREATE TABLE IF NOT EXISTS crier_whatsapp_devices (
    account_id bigint      PRIMARY KEY,
    jid        text        NOT NULL UNIQUE,
    paired_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- What the simulated network "delivered": one row per message id, so that a retried send
-- is one message. to_phone and text are personal data: erasure clears them, retention
-- purges the text.
CREATE TABLE sandbox_messages (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         text NOT NULL UNIQUE,
    account_id bigint NOT NULL,
    to_phone   text,
    text       text,
    sent_at    timestamptz NOT NULL
);

CREATE INDEX sandbox_messages_to_idx ON sandbox_messages (to_phone);
CREATE INDEX sandbox_messages_account_idx ON sandbox_messages (account_id, seq);

-- +goose Down
DROP TABLE sandbox_messages;
DROP TABLE accounts;
