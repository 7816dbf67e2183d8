-- +goose Up

-- Message templates. A template is a small document (locales → variants → body, weight;
-- footer) that is validated as a whole by the templates package before it is stored, so
-- it is kept as one jsonb value. version counts edits: a campaign run records the version
-- it rendered.
CREATE TABLE templates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    category   text NOT NULL CHECK (category IN ('marketing', 'utility')),
    locales    jsonb NOT NULL CHECK (jsonb_typeof(locales) = 'array'),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX templates_name_idx ON templates (lower(name));

-- +goose Down
DROP TABLE templates;
