CREATE TABLE test_table
(
    v_cid_null     cid,
    v_oid_null     oid,
    v_tid_null     tid,
    v_xid_null     xid,
    v_xid8_null    xid8,
    v_cid          cid     not null,
    v_oid          oid     not null,
    v_tid          tid     not null,
    v_xid          xid     not null,
    v_xid8         xid8    not null
);

