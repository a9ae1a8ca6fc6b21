CREATE TABLE foo (num integer not null);

