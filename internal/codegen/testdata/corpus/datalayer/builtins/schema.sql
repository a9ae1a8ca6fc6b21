CREATE TABLE t (id bigint PRIMARY KEY, v text NOT NULL);
