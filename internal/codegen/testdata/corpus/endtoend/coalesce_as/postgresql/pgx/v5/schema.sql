CREATE TABLE foo (
    bar text,
    baz bigint
);

