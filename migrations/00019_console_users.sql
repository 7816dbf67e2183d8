-- +goose Up
-- The console's people (issue 20). API keys stay for machines; users sign in to the console
-- with a password (bcrypt) or a one-time sign-in link, and hold the same roles as keys.
CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL,
    role            text NOT NULL,
    -- bcrypt; NULL until the user sets a password (a sign-in link is the only way in).
    password_hash   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz,
    disabled_at     timestamptz,
    CONSTRAINT users_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX users_email_idx ON users (email);

-- One row per signed-in browser. The cookie holds the token; only its SHA-256 is kept, so a
-- copy of this table signs nobody in. csrf_token is echoed by the console on every change.
CREATE TABLE user_sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL -- the absolute timeout
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

-- One-time sign-in links (crier user create, POST /v1/users/{id}/sign-in-link).
CREATE TABLE user_sign_in_links (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- The audit log names a signed-in user as the actor as it names an API key.
ALTER TABLE audit_log ADD COLUMN actor_user_id bigint;
CREATE INDEX audit_log_actor_user_idx ON audit_log (actor_user_id, id) WHERE actor_user_id IS NOT NULL;

-- +goose Down
DROP INDEX audit_log_actor_user_idx;
ALTER TABLE audit_log DROP COLUMN actor_user_id;
DROP TABLE user_sign_in_links;
DROP TABLE user_sessions;
DROP TABLE users;
