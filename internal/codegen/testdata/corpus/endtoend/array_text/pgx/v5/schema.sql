CREATE TABLE bar (tags text[] not null);

