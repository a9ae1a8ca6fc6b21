CREATE TABLE foo (email text not null);
CREATE TABLE bar (login text not null);

