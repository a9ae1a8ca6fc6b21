CREATE TABLE foo (a text, b text);

