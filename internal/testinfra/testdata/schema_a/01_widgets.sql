-- Fixture schema for the harness's own tests.
CREATE TYPE widget_kind AS ENUM ('small', 'large');

CREATE TABLE widgets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    kind       widget_kind NOT NULL DEFAULT 'small',
    created_at timestamptz NOT NULL DEFAULT now()
);
