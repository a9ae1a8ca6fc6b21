CREATE TABLE foo (name text not null, slug text not null);

