CREATE TABLE foo
(
    col_a BOOL             NOT NULL,
    col_b BOOLEAN          NOT NULL
);

CREATE TABLE bar
(
    col_a BOOL,
    col_b BOOLEAN
);
