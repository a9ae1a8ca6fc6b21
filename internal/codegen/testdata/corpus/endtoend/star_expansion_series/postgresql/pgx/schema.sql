CREATE TABLE alertreport (
  eventdate date
);
