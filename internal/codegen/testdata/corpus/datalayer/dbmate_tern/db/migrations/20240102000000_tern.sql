ALTER TABLE items RENAME COLUMN label TO title;

---- create above / drop below ----

ALTER TABLE items RENAME COLUMN title TO label;
