CREATE TABLE foo (
    bar text,
    bat text not null,
    baz bigint,
    qux bigint not null
);

