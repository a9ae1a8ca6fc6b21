CREATE TABLE bars (id serial not null, name text not null, primary key (id));
CREATE TABLE my_data (id serial not null, name text not null, primary key (id));
CREATE TABLE exclusions (id serial not null, name text not null, primary key (id));

