CREATE TABLE users (name text, id serial primary key);
