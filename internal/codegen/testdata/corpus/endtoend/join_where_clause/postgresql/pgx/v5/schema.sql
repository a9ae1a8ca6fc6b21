CREATE TABLE foo (barid serial not null);
CREATE TABLE bar (id serial not null, owner text not null);

