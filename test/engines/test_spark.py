"""Spark SQL (local[1], Iceberg 1.10 runtime, S3FileIO on tarn's S3 endpoint)
against tarn: a partitioned table through INSERT, MERGE, UPDATE, DELETE, time
travel; PyIceberg and tarn read Spark's result. Each test runs on the
baseline SQLite catalog and on tarn's REST catalog."""

from datetime import datetime, timezone

from conftest import py_rows, rows, tarn_check

EXPECTED = [(2, "2025-01-02 10:00:00", "B2"), (3, "2025-01-02 11:00:00", "c"),
            (4, "2025-01-03 10:00:00", "d"), (5, "2025-02-01 00:00:00", "e")]


def test_create_insert_merge_update_delete_time_travel(catalog, spark):
    c = catalog.spark
    t = f"{c}.spark_ns.events"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {c}.spark_ns")
    spark.sql(f"CREATE TABLE {t} (id bigint, ts timestamp, v string) USING iceberg "
              "PARTITIONED BY (days(ts), bucket(4, id))")
    spark.sql(f"INSERT INTO {t} VALUES (1, TIMESTAMP '2025-01-01 10:00:00', 'a'), "
              "(2, TIMESTAMP '2025-01-02 10:00:00', 'b'), (3, TIMESTAMP '2025-01-02 11:00:00', 'c')")
    first_snap = catalog.py.load_table("spark_ns.events").current_snapshot()
    first = first_snap.snapshot_id
    first_at = datetime.fromtimestamp(first_snap.timestamp_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
    spark.sql(f"MERGE INTO {t} t USING (SELECT * FROM VALUES "
              "(2L, TIMESTAMP '2025-01-02 10:00:00', 'B'), (4L, TIMESTAMP '2025-01-03 10:00:00', 'd'), "
              "(5L, TIMESTAMP '2025-02-01 00:00:00', 'e') AS s(id, ts, v)) s ON t.id = s.id "
              "WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT *")
    spark.sql(f"UPDATE {t} SET v = 'B2' WHERE id = 2")
    spark.sql(f"DELETE FROM {t} WHERE id = 1")
    got = rows(spark.sql(f"SELECT id, date_format(ts, 'yyyy-MM-dd HH:mm:ss'), v FROM {t} ORDER BY id"))
    assert got == EXPECTED

    # Time travel to the first snapshot, and the history Spark sees.
    assert rows(spark.sql(f"SELECT id, v FROM {t} VERSION AS OF {first} ORDER BY id")) == \
        [(1, "a"), (2, "b"), (3, "c")]
    assert rows(spark.sql(f"SELECT id, v FROM {t} TIMESTAMP AS OF '{first_at}' ORDER BY id")) == \
        [(1, "a"), (2, "b"), (3, "c")]

    # Another engine reads exactly what Spark committed.
    tbl = catalog.py.load_table("spark_ns.events")
    ops = [s.summary.operation.value for s in sorted(tbl.snapshots(), key=lambda s: s.sequence_number)]
    assert ops == ["append", "overwrite", "overwrite", "delete"], ops
    assert [(i, ts[:19], v) for i, ts, v in py_rows(tbl, "id", "ts", "v")] == EXPECTED
    assert [f.transform.__class__.__name__ for f in tbl.spec().fields] == ["DayTransform", "BucketTransform"]
    if catalog.tarn:
        tarn_check("SELECT id, v FROM spark_ns.events ORDER BY id",
                   [{"id": i, "v": v} for i, _, v in EXPECTED])
        tarn_check(f"SELECT id, v FROM spark_ns.events FOR VERSION AS OF {first} ORDER BY id",
                   [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}])
        tarn_check(f"SELECT id, v FROM spark_ns.events FOR TIMESTAMP AS OF TIMESTAMP '{first_at} UTC' ORDER BY id",
                   [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": 3, "v": "c"}])


def test_spark_reads_table_after_schema_evolution(catalog, spark):
    """Spark reads a PyIceberg table whose schema evolved (a new column)."""
    import pyarrow as pa
    from pyiceberg.types import LongType
    cat = catalog.py
    cat.create_namespace_if_not_exists("spark_ns")
    tbl = cat.create_table("spark_ns.evolved", schema=pa.schema([("id", pa.int64()), ("v", pa.string())]))
    tbl.append(pa.Table.from_pylist([{"id": 1, "v": "a"}], schema=tbl.schema().as_arrow()))
    with tbl.update_schema() as u:
        u.add_column("n", LongType())
    tbl = cat.load_table("spark_ns.evolved")
    tbl.append(pa.Table.from_pylist([{"id": 2, "v": "b", "n": 7}], schema=tbl.schema().as_arrow()))
    assert rows(spark.sql(f"SELECT id, v, n FROM {catalog.spark}.spark_ns.evolved ORDER BY id")) == \
        [(1, "a", None), (2, "b", 7)]
    spark.sql(f"ALTER TABLE {catalog.spark}.spark_ns.evolved ADD COLUMN w string")
    spark.sql(f"INSERT INTO {catalog.spark}.spark_ns.evolved VALUES (3, 'c', 8, 'w')")
    assert py_rows(cat.load_table("spark_ns.evolved"), "id", "n", "w") == [(1, None, None), (2, 7, None), (3, 8, "w")]


def test_spark_metadata_tables(catalog, spark):
    """Spark's metadata tables (t.snapshots, t.history, t.files, t.partitions)."""
    c = catalog.spark
    t = f"{c}.spark_ns.meta"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {c}.spark_ns")
    spark.sql(f"CREATE TABLE {t} (id bigint, v string) USING iceberg PARTITIONED BY (bucket(4, id))")
    spark.sql(f"INSERT INTO {t} VALUES (1, 'a'), (2, 'b')")
    spark.sql(f"INSERT INTO {t} VALUES (3, 'c')")
    # Spark loads table "snapshots" in namespace spark_ns.meta first: tarn's
    # 404 NoSuchTableException for it sends Spark to the metadata table.
    snaps = rows(spark.sql(f"SELECT snapshot_id, operation FROM {t}.snapshots ORDER BY committed_at"))
    assert [op for _, op in snaps] == ["append", "append"]
    assert len(rows(spark.sql(f"SELECT * FROM {t}.history"))) == 2
    assert sum(r[0] for r in rows(spark.sql(f"SELECT record_count FROM {t}.files"))) == 3
    assert len(rows(spark.sql(f"SELECT partition FROM {t}.partitions"))) >= 2
    assert rows(spark.sql(f"SELECT id FROM {t} VERSION AS OF {snaps[0][0]} ORDER BY id")) == [(1,), (2,)]


def test_partition_evolution_read_by_all(rest, pyiceberg_catalog, spark, trino):
    """Spark changes a table's partition spec between writes (files of two
    specs in one table): every engine and tarn read all rows."""
    t = "tarn.spark_ns.evolving_spec"
    spark.sql("CREATE NAMESPACE IF NOT EXISTS tarn.spark_ns")
    spark.sql(f"CREATE TABLE {t} (id bigint, ts timestamp, v string) USING iceberg PARTITIONED BY (bucket(2, id))")
    spark.sql(f"INSERT INTO {t} VALUES (1, TIMESTAMP '2025-01-01 00:00:00', 'a'), (2, TIMESTAMP '2025-02-01 00:00:00', 'b')")
    spark.sql(f"ALTER TABLE {t} ADD PARTITION FIELD months(ts)")
    spark.sql(f"ALTER TABLE {t} DROP PARTITION FIELD bucket(2, id)")
    spark.sql(f"INSERT INTO {t} VALUES (3, TIMESTAMP '2025-01-15 00:00:00', 'c'), (4, TIMESTAMP '2025-03-01 00:00:00', 'd')")
    want = [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    tbl = pyiceberg_catalog.load_table("spark_ns.evolving_spec")
    assert len(tbl.specs()) == 3  # the first, both fields, months only
    assert py_rows(tbl, "id", "v") == want
    assert trino("SELECT id, v FROM tarn.spark_ns.evolving_spec ORDER BY id") == want
    assert trino("SELECT id FROM tarn.spark_ns.evolving_spec WHERE ts < TIMESTAMP '2025-02-01 00:00:00 UTC' "
                 "ORDER BY id") == [(1,), (3,)]
    tarn_check("SELECT id, v FROM spark_ns.evolving_spec ORDER BY id", [{"id": i, "v": v} for i, v in want])
    tarn_check("SELECT id FROM spark_ns.evolving_spec WHERE ts < TIMESTAMP '2025-02-01 00:00:00' ORDER BY id",
               [{"id": 1}, {"id": 3}])


def test_equality_deletes_read_by_all(rest, spark, trino):
    """An equality delete file (as Flink writes them), written with Iceberg's
    Java API inside Spark's JVM and committed through tarn's catalog as a row
    delta: Spark, Trino and tarn apply it. (PyIceberg 0.12 reads no equality
    deletes.) Ids are above 2^31 so that py4j passes them as Java longs."""
    t = "tarn.spark_ns.eq_deletes"
    spark.sql("CREATE NAMESPACE IF NOT EXISTS tarn.spark_ns")
    spark.sql(f"CREATE TABLE {t} (id bigint, v string) USING iceberg TBLPROPERTIES ('format-version'='2')")
    base = 3_000_000_000
    spark.sql(f"INSERT INTO {t} VALUES ({base + 1}, 'a'), ({base + 2}, 'b'), ({base + 3}, 'c'), ({base + 4}, 'd')")

    jvm = spark._jvm
    table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, t)
    schema = table.schema()
    cols = jvm.java.util.ArrayList()
    cols.add("id")
    delete_schema = schema.select(cols)
    ids = spark.sparkContext._gateway.new_array(jvm.int, 1)
    ids[0] = schema.findField("id").fieldId()
    factory = jvm.org.apache.iceberg.data.GenericAppenderFactory(schema, table.spec(), ids, delete_schema, None)
    out = table.io().newOutputFile(table.location() + "/data/eq-delete-00001.parquet")
    writer = factory.newEqDeleteWriter(jvm.org.apache.iceberg.encryption.EncryptedFiles.plainAsEncryptedOutput(out),
                                       jvm.org.apache.iceberg.FileFormat.PARQUET, None)
    for i in (base + 2, base + 4):
        rec = jvm.org.apache.iceberg.data.GenericRecord.create(delete_schema)
        rec.setField("id", i)
        writer.write(rec)
    writer.close()
    table.newRowDelta().addDeletes(writer.toDeleteFile()).commit()

    want = [(base + 1, "a"), (base + 3, "c")]
    assert rows(spark.sql(f"SELECT id, v FROM {t} ORDER BY id")) == want
    assert trino("SELECT id, v FROM tarn.spark_ns.eq_deletes ORDER BY id") == want
    tarn_check("SELECT id, v FROM spark_ns.eq_deletes ORDER BY id", [{"id": i, "v": v} for i, v in want])
