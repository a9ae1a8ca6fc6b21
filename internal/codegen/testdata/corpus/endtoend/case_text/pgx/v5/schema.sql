CREATE TABLE foo (id text not null);

