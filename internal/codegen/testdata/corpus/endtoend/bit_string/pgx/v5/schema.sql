CREATE TABLE test_table
(
    v_bit_null     bit(3),
    v_varbit_null  bit varying(3),
    v_bit          bit(3)             not null,
    v_varbit       bit varying(3)     not null
);

