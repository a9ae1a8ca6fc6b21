CREATE TABLE foo (bar inet, baz cidr);

