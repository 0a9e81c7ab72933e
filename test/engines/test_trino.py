"""Trino (its Iceberg connector with a `rest` catalog pointing at tarn, OAuth2
client credentials, native S3 on tarn's endpoint): the round trip Trino
supports (CREATE TABLE, INSERT, UPDATE, DELETE, MERGE, time travel), and
Trino reading what Spark and PyIceberg wrote through tarn's catalog."""

import pyarrow as pa
import pytest

from conftest import BUCKET, py_rows, rows, tarn_check, utc


@pytest.fixture(scope="module")
def trino_ns(rest, trino):
    """A schema with a location property (see test_create_table_in_schema_without_location)."""
    trino(f"CREATE SCHEMA IF NOT EXISTS tarn.trino_ns WITH (location = 's3://{BUCKET}/warehouse/trino_ns')")
    return "tarn.trino_ns"


def test_create_table_in_schema_without_location(rest, trino):
    """The schema as most users create it, with no location: Trino then asks
    tarn to create the table at once (no stage-create) and checks that the
    table's location is empty."""
    trino("CREATE SCHEMA tarn.trino_plain")
    trino("CREATE TABLE tarn.trino_plain.t (id bigint)")
    trino("INSERT INTO tarn.trino_plain.t VALUES 1")
    assert trino("SELECT id FROM tarn.trino_plain.t") == [(1,)]


def test_trino_round_trip(trino, trino_ns, pyiceberg_catalog, spark):
    t = f"{trino_ns}.events"
    trino(f"CREATE TABLE {t} (id bigint, ts timestamp(6) with time zone, v varchar) "
          "WITH (format = 'PARQUET', partitioning = ARRAY['day(ts)', 'bucket(id, 4)'])")
    snapshots = f'{trino_ns}."events$snapshots"'
    created = trino(f"SELECT snapshot_id FROM {snapshots} ORDER BY committed_at")
    trino(f"INSERT INTO {t} VALUES (1, TIMESTAMP '2025-01-01 10:00:00 UTC', 'a'), "
          "(2, TIMESTAMP '2025-01-02 10:00:00 UTC', 'b'), (3, TIMESTAMP '2025-01-02 11:00:00 UTC', 'c')")
    inserted = trino(f"SELECT snapshot_id FROM {snapshots} ORDER BY committed_at DESC LIMIT 1")[0][0]
    trino(f"UPDATE {t} SET v = 'B' WHERE id = 2")
    trino(f"DELETE FROM {t} WHERE id = 1")
    trino(f"MERGE INTO {t} t USING (VALUES (3, TIMESTAMP '2025-01-02 11:00:00 UTC', 'C'), "
          "(4, TIMESTAMP '2025-01-03 10:00:00 UTC', 'd')) AS s(id, ts, v) ON t.id = s.id "
          "WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, ts, v) VALUES (s.id, s.ts, s.v)")
    expected = [(2, "2025-01-02 10:00:00", "B"), (3, "2025-01-02 11:00:00", "C"), (4, "2025-01-03 10:00:00", "d")]
    assert trino(f"SELECT id, format_datetime(ts AT TIME ZONE 'UTC', 'yyyy-MM-dd HH:mm:ss'), v FROM {t} ORDER BY id") \
        == expected
    assert trino(f"SELECT id, v FROM {t} FOR VERSION AS OF {inserted} ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
    assert len(trino(f"SELECT * FROM {snapshots}")) == len(created) + 4

    # Trino's UPDATE, DELETE and MERGE wrote position delete files: the other
    # engines apply them.
    assert py_rows(pyiceberg_catalog.load_table("trino_ns.events"), "id", "v") == [(2, "B"), (3, "C"), (4, "d")]
    assert rows(spark.sql("SELECT id, v FROM tarn.trino_ns.events ORDER BY id")) == [(2, "B"), (3, "C"), (4, "d")]
    tarn_check("SELECT id, v FROM trino_ns.events ORDER BY id",
               [{"id": 2, "v": "B"}, {"id": 3, "v": "C"}, {"id": 4, "v": "d"}])


def test_trino_reads_spark_and_pyiceberg_tables(trino, trino_ns, pyiceberg_catalog, spark):
    spark.sql("CREATE TABLE tarn.trino_ns.from_spark (id bigint, v string) USING iceberg PARTITIONED BY (bucket(4, id))")
    spark.sql("INSERT INTO tarn.trino_ns.from_spark VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    spark.sql("DELETE FROM tarn.trino_ns.from_spark WHERE id = 2")
    assert trino(f"SELECT id, v FROM {trino_ns}.from_spark ORDER BY id") == [(1, "a"), (3, "c")]

    schema = pa.schema([("id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC"))])
    tbl = pyiceberg_catalog.create_table("trino_ns.from_pyiceberg", schema=schema)
    tbl.append(pa.Table.from_pylist([{"id": 7, "ts": utc("2025-05-05 05:05:05.5")}], schema=schema))
    assert trino(f"SELECT id, format_datetime(ts AT TIME ZONE 'UTC', 'yyyy-MM-dd HH:mm:ss.SSS') "
                 f"FROM {trino_ns}.from_pyiceberg") == [(7, "2025-05-05 05:05:05.500")]


def test_trino_schema_evolution_and_rename(trino, trino_ns, pyiceberg_catalog):
    t = f"{trino_ns}.evolve"
    trino(f"CREATE TABLE {t} (id bigint)")
    trino(f"INSERT INTO {t} VALUES 1")
    trino(f"ALTER TABLE {t} ADD COLUMN v varchar")
    trino(f"INSERT INTO {t} VALUES (2, 'b')")
    trino(f"ALTER TABLE {t} RENAME TO {trino_ns}.evolved")
    assert trino(f"SELECT id, v FROM {trino_ns}.evolved ORDER BY id") == [(1, None), (2, "b")]
    assert py_rows(pyiceberg_catalog.load_table("trino_ns.evolved"), "id", "v") == [(1, None), (2, "b")]
    assert ("evolve",) not in trino(f"SHOW TABLES FROM {trino_ns}")


def test_trino_time_travel_to_create_snapshot(trino, trino_ns):
    """Trino's CREATE TABLE commits an empty snapshot in its create
    transaction; reading the table as of that snapshot gives no rows, with the
    table's columns."""
    trino(f"CREATE TABLE {trino_ns}.created (id bigint, v varchar)")
    snaps = trino(f'SELECT snapshot_id FROM {trino_ns}."created$snapshots" ORDER BY committed_at')
    trino(f"INSERT INTO {trino_ns}.created VALUES (1, 'a')")
    if not snaps:
        pytest.skip("Trino committed no snapshot at CREATE TABLE")
    # The create transaction's snapshot names the table's schema (tarn builds
    # a create commit from empty metadata, so the client's schema stays 0).
    assert trino(f"SELECT * FROM {trino_ns}.created FOR VERSION AS OF {snaps[0][0]}") == []
    assert trino(f"SELECT id, v FROM {trino_ns}.created FOR VERSION AS OF {snaps[0][0]}") == []


def test_trino_over_sigv4(rest, trino, trino_ns):
    """Trino's `tarn_sigv4` catalog: the same REST catalog, requests signed
    with SigV4 by the s3.aws-* key instead of an OAuth2 token."""
    trino(f"CREATE TABLE {trino_ns}.for_sigv4 (id bigint)")
    trino(f"INSERT INTO {trino_ns}.for_sigv4 VALUES 1, 2")
    assert trino("SELECT id FROM tarn_sigv4.trino_ns.for_sigv4 ORDER BY id") == [(1,), (2,)]
    trino("INSERT INTO tarn_sigv4.trino_ns.for_sigv4 VALUES 3")
    trino("DELETE FROM tarn_sigv4.trino_ns.for_sigv4 WHERE id = 1")
    assert trino(f"SELECT id FROM {trino_ns}.for_sigv4 ORDER BY id") == [(2,), (3,)]
