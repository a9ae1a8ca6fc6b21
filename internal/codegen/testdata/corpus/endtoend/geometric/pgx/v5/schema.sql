CREATE TABLE test_table
(
    v_box_null     box,
    v_circle_null  circle,
    v_line_null    line,
    v_lseg_null    lseg,
    v_path_null    path,
    v_point_null   point,
    v_polygon_null polygon,
    v_box          box     not null,
    v_circle       circle  not null,
    v_line         line    not null,
    v_lseg         lseg    not null,
    v_path         path    not null,
    v_point        point   not null,
    v_polygon      polygon not null
);

