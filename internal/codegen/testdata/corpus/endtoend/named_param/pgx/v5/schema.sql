CREATE TABLE foo (name text not null, bio text not null);

