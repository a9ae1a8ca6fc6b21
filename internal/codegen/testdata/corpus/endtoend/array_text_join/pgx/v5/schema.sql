CREATE TABLE foo (id text not null, bar text not null);
CREATE TABLE bar (id text not null, info text[] not null);

