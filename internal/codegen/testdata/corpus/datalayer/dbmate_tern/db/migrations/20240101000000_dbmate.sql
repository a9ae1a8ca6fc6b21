-- migrate:up
CREATE TABLE items (id bigserial PRIMARY KEY, label text NOT NULL);

-- migrate:down
DROP TABLE items;
