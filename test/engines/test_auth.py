"""Who may do what through tarn's REST catalog: SigV4-signed Spark, a
read-only key (reads, but cannot create or commit), and vended S3
credentials for a client that has only the catalog credential."""

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import ForbiddenError

from conftest import OAUTH_URI, S3_PROPS, known_gap, make_key, py_rows, rows

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string())])


def test_spark_over_sigv4(rest, pyiceberg_catalog, spark):
    pyiceberg_catalog.create_namespace_if_not_exists("auth_ns")
    spark.sql("CREATE TABLE tarn_sigv4.auth_ns.signed (id bigint, v string) USING iceberg")
    spark.sql("INSERT INTO tarn_sigv4.auth_ns.signed VALUES (1, 'a'), (2, 'b')")
    assert rows(spark.sql("SELECT id, v FROM tarn_sigv4.auth_ns.signed ORDER BY id")) == [(1, "a"), (2, "b")]
    assert py_rows(pyiceberg_catalog.load_table("auth_ns.signed"), "id", "v") == [(1, "a"), (2, "b")]
    assert ("auth_ns",) in [tuple(r) for r in rows(spark.sql("SHOW NAMESPACES IN tarn_sigv4"))]


def test_read_only_key(rest, pyiceberg_catalog):
    pyiceberg_catalog.create_namespace_if_not_exists("auth_ns")
    tbl = pyiceberg_catalog.create_table("auth_ns.guarded", schema=SCHEMA)
    tbl.append(pa.Table.from_pylist([{"id": 1, "v": "a"}], schema=SCHEMA))
    kid, secret = make_key("engines-reader", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["glue:Get*", "s3:GetObject", "s3:ListBucket"], "Resource": "*"}]})
    props = {**S3_PROPS, "s3.access-key-id": kid, "s3.secret-access-key": secret}
    reader = RestCatalog("reader", **{"uri": rest, "credential": f"{kid}:{secret}", "oauth2-server-uri": OAUTH_URI,
                                      **props})
    t = reader.load_table("auth_ns.guarded")
    assert py_rows(t, "id", "v") == [(1, "a")]
    with pytest.raises(ForbiddenError):
        reader.create_table("auth_ns.not_mine", schema=SCHEMA)
    with pytest.raises((ForbiddenError, OSError)):  # the data file's PUT, or the commit
        t.append(pa.Table.from_pylist([{"id": 2, "v": "b"}], schema=SCHEMA))
    assert py_rows(pyiceberg_catalog.load_table("auth_ns.guarded"), "id", "v") == [(1, "a")]
    assert len(pyiceberg_catalog.load_table("auth_ns.guarded").snapshots()) == 1


def test_vended_credentials(rest, pyiceberg_catalog):
    """A client with only the catalog credential asks for vended S3
    credentials and writes and reads with them."""
    from conftest import KEY, SECRET
    pyiceberg_catalog.create_namespace_if_not_exists("auth_ns")
    cat = RestCatalog("vended", **{"uri": rest, "credential": f"{KEY}:{SECRET}", "oauth2-server-uri": OAUTH_URI,
                                   "header.X-Iceberg-Access-Delegation": "vended-credentials",
                                   "py-io-impl": S3_PROPS["py-io-impl"]})
    tbl = cat.create_table("auth_ns.vended", schema=SCHEMA)
    with known_gap("vended-credentials"):
        tbl.append(pa.Table.from_pylist([{"id": 1, "v": "a"}], schema=SCHEMA))
    assert py_rows(cat.load_table("auth_ns.vended"), "id", "v") == [(1, "a")]
