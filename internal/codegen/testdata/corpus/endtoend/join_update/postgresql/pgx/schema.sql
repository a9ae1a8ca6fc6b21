CREATE TABLE group_calc_totals (
  npn  text,
  group_id text
);

CREATE TABLE producer_group_attribute (
  npn_external_map_id text,
  group_id text
);

CREATE TABLE npn_external_map (
  id   text,
  npn  text
);
