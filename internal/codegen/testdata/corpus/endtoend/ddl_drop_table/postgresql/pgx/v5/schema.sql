CREATE TABLE venues ();
DROP TABLE venues;