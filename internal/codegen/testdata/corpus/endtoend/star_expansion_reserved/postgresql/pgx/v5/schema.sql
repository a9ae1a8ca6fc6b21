CREATE TABLE foo ("group" text, key text);
