"""PyIceberg against tarn: namespaces and tables through the catalog, data
and metadata files through tarn's S3 endpoint (PyArrow's S3 client). Each
test runs on the baseline SQLite catalog and on tarn's REST catalog."""

import pyarrow as pa
import pytest
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.types import StringType

from conftest import KEY, REGION, REST, S3_PROPS, SECRET, py_rows, rows, tarn_check, utc

SCHEMA = pa.schema([("id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("v", pa.string())])


def first_rows():
    return pa.Table.from_pylist([
        {"id": 1, "ts": utc("2025-01-01 10:00:00"), "v": "a"},
        {"id": 2, "ts": utc("2025-01-02 10:00:00"), "v": "b"},
        {"id": 3, "ts": utc("2025-01-02 11:30:00.123456"), "v": None},
    ], schema=SCHEMA)


def test_create_append_read_evolve_rename(catalog):
    cat = catalog.py
    ns = "py_ns"
    cat.create_namespace(ns)
    assert (ns,) in cat.list_namespaces()
    tbl = cat.create_table(f"{ns}.events", schema=SCHEMA)
    assert tbl.current_snapshot() is None
    tbl.append(first_rows())
    tbl = cat.load_table(f"{ns}.events")
    assert py_rows(tbl, "id", "ts", "v") == [
        (1, "2025-01-01 10:00:00.000000", "a"),
        (2, "2025-01-02 10:00:00.000000", "b"),
        (3, "2025-01-02 11:30:00.123456", None),
    ]
    first = tbl.current_snapshot().snapshot_id

    # Schema evolution: a new column (old rows read null), a renamed one.
    with tbl.update_schema() as u:
        u.add_column("extra", StringType())
        u.rename_column("v", "value")
    tbl = cat.load_table(f"{ns}.events")
    assert [f.name for f in tbl.schema().fields] == ["id", "ts", "value", "extra"]
    tbl.append(pa.Table.from_pylist([{"id": 4, "ts": utc("2025-01-03 00:00:00"), "value": "d", "extra": "x"}],
                                    schema=tbl.schema().as_arrow()))
    tbl = cat.load_table(f"{ns}.events")
    assert py_rows(tbl, "id", "value", "extra") == [(1, "a", None), (2, "b", None), (3, None, None), (4, "d", "x")]
    # The first snapshot still reads as it was (data files not rewritten).
    assert sorted(r["id"] for r in tbl.scan(snapshot_id=first).to_arrow().to_pylist()) == [1, 2, 3]
    assert len(tbl.snapshots()) == 2

    cat.rename_table(f"{ns}.events", f"{ns}.events2")
    with pytest.raises(NoSuchTableError):
        cat.load_table(f"{ns}.events")
    tbl = cat.load_table(f"{ns}.events2")
    assert py_rows(tbl, "id") == [(1,), (2,), (3,), (4,)]
    assert (ns, "events2") in cat.list_tables(ns)
    # A name one level deeper (Spark's t.snapshots) is no table and its
    # namespace none: answers, not errors.
    assert not cat.table_exists(f"{ns}.events2.snapshots")
    assert not cat.namespace_exists(f"{ns}.events2")
    with pytest.raises(NoSuchTableError):
        cat.load_table(f"{ns}.events2.snapshots")

    if catalog.tarn:
        tarn_check(f"SELECT id, value, extra FROM {ns}.events2 ORDER BY id",
                   [{"id": 1, "value": "a", "extra": None}, {"id": 2, "value": "b", "extra": None},
                    {"id": 3, "value": None, "extra": None}, {"id": 4, "value": "d", "extra": "x"}])


def test_spark_reads_pyiceberg_table(catalog, spark):
    cat = catalog.py
    cat.create_namespace_if_not_exists("py_ns")
    tbl = cat.create_table("py_ns.for_spark", schema=SCHEMA)
    tbl.append(first_rows())
    got = rows(spark.sql(f"SELECT id, date_format(ts, 'yyyy-MM-dd HH:mm:ss.SSSSSS'), v "
                         f"FROM {catalog.spark}.py_ns.for_spark ORDER BY id"))
    assert got == [(1, "2025-01-01 10:00:00.000000", "a"), (2, "2025-01-02 10:00:00.000000", "b"),
                   (3, "2025-01-02 11:30:00.123456", None)]


def test_pyiceberg_reads_spark_merge_on_read_table(catalog, spark):
    """A table Spark wrote with position delete files (merge-on-read): PyIceberg
    applies them."""
    c = catalog.spark
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {c}.py_ns")
    spark.sql(f"CREATE TABLE {c}.py_ns.mor (id bigint, v string) USING iceberg TBLPROPERTIES ("
              "'format-version'='2', 'write.delete.mode'='merge-on-read', "
              "'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read')")
    spark.sql(f"INSERT INTO {c}.py_ns.mor VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
    spark.sql(f"DELETE FROM {c}.py_ns.mor WHERE id = 2")
    spark.sql(f"UPDATE {c}.py_ns.mor SET v = 'C' WHERE id = 3")
    tbl = catalog.py.load_table("py_ns.mor")
    deletes = [f for f in tbl.inspect.delete_files().to_pylist() if f["content"] == 1]
    assert deletes, "Spark wrote no position delete file"
    assert py_rows(tbl, "id", "v") == [(1, "a"), (3, "C"), (4, "d")]
    if catalog.tarn:
        tarn_check("SELECT id, v FROM py_ns.mor ORDER BY id",
                   [{"id": 1, "v": "a"}, {"id": 3, "v": "C"}, {"id": 4, "v": "d"}])


def test_sigv4_auth(rest):
    """tarn's catalog accepts SigV4-signed requests (the access key, no OAuth2 token)."""
    from pyiceberg.catalog.rest import RestCatalog
    cat = RestCatalog("tarn_sigv4", **{"uri": REST, "rest.sigv4-enabled": "true", "rest.signing-region": REGION,
                                       "client.access-key-id": KEY, "client.secret-access-key": SECRET,
                                       "client.region": REGION, **S3_PROPS})
    cat.create_namespace_if_not_exists("sigv4_ns")
    assert ("sigv4_ns",) in cat.list_namespaces()
