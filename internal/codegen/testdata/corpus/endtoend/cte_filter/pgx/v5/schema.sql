CREATE TABLE bar (ready bool not null);

