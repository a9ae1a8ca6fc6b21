CREATE TABLE also_fine (id int PRIMARY KEY);

CREATE TABLE broken (
    id int PRIMARY KEY,,
    name text
);
