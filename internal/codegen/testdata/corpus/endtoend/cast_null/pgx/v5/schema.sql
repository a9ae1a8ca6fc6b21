CREATE TABLE foo (bar text);

