CREATE TABLE foo (a integer, b integer);

