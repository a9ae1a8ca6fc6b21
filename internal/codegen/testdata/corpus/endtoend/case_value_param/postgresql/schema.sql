CREATE TABLE testing (
  id    int PRIMARY KEY,
  value text
);
