CREATE TABLE foo (bar bool not null);

