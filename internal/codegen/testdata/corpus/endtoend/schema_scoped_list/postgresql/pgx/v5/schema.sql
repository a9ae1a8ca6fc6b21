CREATE SCHEMA foo;
CREATE TABLE foo.bar (id serial not null);

