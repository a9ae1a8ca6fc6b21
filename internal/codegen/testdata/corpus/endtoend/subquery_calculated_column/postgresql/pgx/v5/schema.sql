CREATE TABLE foo (a int, b int);

