CREATE TABLE bar (id serial primary key not null, ready bool not null);

