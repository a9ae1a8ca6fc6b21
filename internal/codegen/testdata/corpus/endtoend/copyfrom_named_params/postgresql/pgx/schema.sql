create table "user_data" (
	"id" varchar not null,
	"user" varchar not null,
	primary key ("id")
);
