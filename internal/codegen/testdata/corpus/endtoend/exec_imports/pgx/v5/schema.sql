CREATE TABLE foo (bar int, bars int[] not null);

