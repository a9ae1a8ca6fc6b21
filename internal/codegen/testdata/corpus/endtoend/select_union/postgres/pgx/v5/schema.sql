CREATE TABLE foo (a text, b text);
CREATE TABLE bar (a text, b text);

