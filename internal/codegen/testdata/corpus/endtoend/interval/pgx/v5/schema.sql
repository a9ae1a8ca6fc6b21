CREATE TABLE foo (bar bool not null, "interval" interval not null);

