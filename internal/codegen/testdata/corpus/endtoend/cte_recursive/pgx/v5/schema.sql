CREATE TABLE bar (id INT NOT NULL, parent_id INT);

