CREATE TABLE foo (bar text not null, bat text not null);

