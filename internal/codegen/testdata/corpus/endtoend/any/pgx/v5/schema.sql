CREATE TABLE bar (id bigserial not null);

