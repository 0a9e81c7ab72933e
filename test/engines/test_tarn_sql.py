"""Tables tarn's own SQL writes (Athena's Iceberg DDL and DML through `tarn
query`), read by PyIceberg, Spark and Trino through tarn's REST catalog; and
tarn and Spark committing to one table at the same time."""

import threading

import pyarrow as pa

from conftest import BUCKET, gap_found, py_rows, rows, tarn_sql

EXPECTED = [(2, "2025-01-02 10:00:00", "B"), (3, "2025-01-02 11:00:00", "C"), (4, "2025-01-03 10:00:00", "d")]


def test_engines_read_table_tarn_wrote(rest, pyiceberg_catalog, spark, trino):
    pyiceberg_catalog.create_namespace_if_not_exists("tarn_sql")
    tarn_sql("CREATE TABLE tarn_sql.events (id bigint, ts timestamp, v string) "
             "PARTITIONED BY (day(ts), bucket(4, id)) "
             f"LOCATION 's3://{BUCKET}/warehouse/tarn_sql/events' "
             "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')")
    tarn_sql("INSERT INTO tarn_sql.events VALUES (1, TIMESTAMP '2025-01-01 10:00:00', 'a'), "
             "(2, TIMESTAMP '2025-01-02 10:00:00', 'b'), (3, TIMESTAMP '2025-01-02 11:00:00', 'c')")
    tarn_sql("UPDATE tarn_sql.events SET v = 'B' WHERE id = 2")
    tarn_sql("DELETE FROM tarn_sql.events WHERE id = 1")
    tarn_sql("MERGE INTO tarn_sql.events t USING (SELECT 3 AS id, TIMESTAMP '2025-01-02 11:00:00' AS ts, 'C' AS v "
             "UNION ALL SELECT 4, TIMESTAMP '2025-01-03 10:00:00', 'd') s ON t.id = s.id "
             "WHEN MATCHED THEN UPDATE SET v = s.v "
             "WHEN NOT MATCHED THEN INSERT (id, ts, v) VALUES (s.id, s.ts, s.v)")
    assert tarn_sql("SELECT id, v FROM tarn_sql.events ORDER BY id") == \
        [{"id": i, "v": v} for i, _, v in EXPECTED]

    tbl = pyiceberg_catalog.load_table("tarn_sql.events")
    assert [(i, ts[:19], v) for i, ts, v in py_rows(tbl, "id", "ts", "v")] == EXPECTED
    assert len(tbl.snapshots()) == 4  # one snapshot per statement
    assert rows(spark.sql("SELECT id, date_format(ts, 'yyyy-MM-dd HH:mm:ss'), v "
                          "FROM tarn.tarn_sql.events ORDER BY id")) == EXPECTED
    assert trino("SELECT id, v FROM tarn.tarn_sql.events ORDER BY id") == [(i, v) for i, _, v in EXPECTED]


def test_tarn_and_spark_commit_concurrently(rest, pyiceberg_catalog, spark):
    """tarn's INSERTs (a thread) and Spark's INSERTs at the same time: each of
    tarn's either commits or fails cleanly with a conflict (then it is run
    again); every committed row is there."""
    schema = pa.schema([("id", pa.int64()), ("who", pa.string())])
    pyiceberg_catalog.create_namespace_if_not_exists("tarn_sql")
    pyiceberg_catalog.create_table("tarn_sql.race", schema=schema)
    tarn_sql("INSERT INTO tarn_sql.race VALUES (0, 'tarn')")
    n = 5
    errors, conflicts = [], []

    def tarn_writer():
        for i in range(1, n + 1):
            for _ in range(10):
                try:
                    tarn_sql(f"INSERT INTO tarn_sql.race VALUES ({i}, 'tarn')")
                    break
                except AssertionError as e:
                    if "conflict" not in str(e).lower() and "commit" not in str(e).lower():
                        errors.append(e)
                        return
                    conflicts.append(e)
            else:
                errors.append(AssertionError(f"10 conflicts in a row for row {i}"))

    th = threading.Thread(target=tarn_writer)
    th.start()
    for i in range(n):
        spark.sql(f"INSERT INTO tarn.tarn_sql.race VALUES ({100 + i}, 'spark')")
    th.join()
    assert not errors, errors
    want = sorted([(i, "tarn") for i in range(n + 1)] + [(100 + i, "spark") for i in range(n)])
    assert py_rows(pyiceberg_catalog.load_table("tarn_sql.race"), "id", "who") == want
    assert rows(spark.sql("SELECT id, who FROM tarn.tarn_sql.race ORDER BY id")) == want
    print(f"tarn's INSERTs met {len(conflicts)} commit conflicts")


def test_tarn_merge_from_values_with_aliases(rest, pyiceberg_catalog):
    """Athena's MERGE with a VALUES source named by column aliases."""
    pyiceberg_catalog.create_namespace_if_not_exists("tarn_sql")
    tarn_sql("CREATE TABLE tarn_sql.merged (id bigint, v string) "
             f"LOCATION 's3://{BUCKET}/warehouse/tarn_sql/merged' TBLPROPERTIES ('table_type'='ICEBERG')")
    tarn_sql("INSERT INTO tarn_sql.merged VALUES (1, 'a'), (2, 'b')")
    tarn_sql("MERGE INTO tarn_sql.merged t USING (VALUES (2, 'B'), (3, 'c')) AS s(id, v) ON t.id = s.id "
             "WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)")
    assert py_rows(pyiceberg_catalog.load_table("tarn_sql.merged"), "id", "v") == [(1, "a"), (2, "B"), (3, "c")]


def test_tarn_and_spark_update_one_row_at_once(rest, pyiceberg_catalog, spark):
    """tarn and Spark UPDATE the same row from the same base at once, a few
    rounds: a writer either commits or fails with a conflict; the row is
    never duplicated nor lost, and holds the value of a writer that committed."""
    pyiceberg_catalog.create_namespace_if_not_exists("tarn_sql")
    tarn_sql("CREATE TABLE tarn_sql.contended (id bigint, v string) "
             f"LOCATION 's3://{BUCKET}/warehouse/tarn_sql/contended' TBLPROPERTIES ('table_type'='ICEBERG')")
    tarn_sql("INSERT INTO tarn_sql.contended VALUES " + ", ".join(f"({i}, 'start')" for i in range(1, 11)))
    committed = {"tarn": 0, "spark": 0}
    for r in range(4):
        gate = threading.Barrier(2)
        outcome = {}

        def tarn_update():
            gate.wait()
            try:
                tarn_sql(f"UPDATE tarn_sql.contended SET v = 'tarn-{r}' WHERE id = 1")
                outcome["tarn"] = None
            except AssertionError as e:
                outcome["tarn"] = e

        th = threading.Thread(target=tarn_update)
        th.start()
        gate.wait()
        try:
            spark.sql(f"UPDATE tarn.tarn_sql.contended SET v = 'spark-{r}' WHERE id = 1")
            outcome["spark"] = None
        except Exception as e:  # Spark's ValidationException or CommitFailedException
            outcome["spark"] = e
        th.join()
        ok = {w for w, e in outcome.items() if e is None}
        assert ok, f"round {r}: neither writer committed: {outcome}"
        for w, e in outcome.items():
            if e is not None:
                text = str(e).lower()
                assert any(k in text for k in ("conflict", "commit", "validation", "missing", "changed", "concurrent")), \
                    f"round {r}: {w} failed without a conflict: {e}"
            else:
                committed[w] += 1
        got = tarn_sql("SELECT id, v FROM tarn_sql.contended ORDER BY id")
        assert [g["id"] for g in got] == list(range(1, 11)), got
        assert got[0]["v"] in {f"{w}-{r}" for w in ok}, (got[0], outcome)
        assert all(g["v"] == "start" for g in got[1:])
        assert rows(spark.sql("SELECT count(*) FROM tarn.tarn_sql.contended")) == [(10,)]
    print(f"committed: {committed}")


def test_tarn_optimize_and_vacuum_read_by_all(rest, pyiceberg_catalog, spark, trino):
    """tarn's maintenance on a table with small files and Spark's position
    deletes: OPTIMIZE compacts them (the old snapshot still reads as it was),
    VACUUM expires the old snapshots and deletes the files no snapshot names;
    every engine reads the same rows throughout."""
    import time

    import boto3
    from conftest import KEY, REGION, S3, SECRET

    pyiceberg_catalog.create_namespace_if_not_exists("tarn_sql")
    tarn_sql("CREATE TABLE tarn_sql.compacted (id bigint, v string) "
             f"LOCATION 's3://{BUCKET}/warehouse/tarn_sql/compacted' TBLPROPERTIES ('table_type'='ICEBERG', "
             "'vacuum_max_snapshot_age_seconds'='1', 'vacuum_min_snapshots_to_keep'='1')")
    for i in range(4):
        tarn_sql(f"INSERT INTO tarn_sql.compacted VALUES ({2 * i}, 'v{2 * i}'), ({2 * i + 1}, 'v{2 * i + 1}')")
    spark.sql("ALTER TABLE tarn.tarn_sql.compacted SET TBLPROPERTIES ('write.delete.mode'='merge-on-read')")
    spark.sql("DELETE FROM tarn.tarn_sql.compacted WHERE id IN (1, 6)")
    want = [(i, f"v{i}") for i in range(8) if i not in (1, 6)]
    tbl = pyiceberg_catalog.load_table("tarn_sql.compacted")
    before = tbl.current_snapshot().snapshot_id
    old_files = {f["file_path"] for f in tbl.inspect.files().to_pylist()}
    assert len([f for f in old_files if "delete" not in f]) >= 4

    tarn_sql("OPTIMIZE tarn_sql.compacted REWRITE DATA USING BIN_PACK")
    tbl = pyiceberg_catalog.load_table("tarn_sql.compacted")
    files = tbl.inspect.files().to_pylist()
    assert [f["content"] for f in files] == [0], files  # one data file, no delete file
    optimize_op = tbl.current_snapshot().summary.operation.value
    assert py_rows(tbl, "id", "v") == want
    assert rows(spark.sql("SELECT id, v FROM tarn.tarn_sql.compacted ORDER BY id")) == want
    assert rows(spark.sql(f"SELECT id, v FROM tarn.tarn_sql.compacted VERSION AS OF {before} ORDER BY id")) == want
    assert trino("SELECT id, v FROM tarn.tarn_sql.compacted ORDER BY id") == want

    time.sleep(1.5)  # the snapshots and files to expire must be older than vacuum_max_snapshot_age_seconds
    tarn_sql("VACUUM tarn_sql.compacted")
    tbl = pyiceberg_catalog.load_table("tarn_sql.compacted")
    assert [s.snapshot_id for s in tbl.snapshots()] == [tbl.current_snapshot().snapshot_id]
    s3 = boto3.client("s3", endpoint_url=S3, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION)
    keys = {f"s3://{BUCKET}/{o['Key']}" for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="warehouse/tarn_sql/compacted/") for o in page.get("Contents", [])}
    assert not (old_files & keys), f"VACUUM left files no snapshot names: {sorted(old_files & keys)}"
    assert {f["file_path"] for f in tbl.inspect.files().to_pylist()} <= keys
    assert py_rows(tbl, "id", "v") == want
    assert rows(spark.sql("SELECT id, v FROM tarn.tarn_sql.compacted ORDER BY id")) == want
    assert trino("SELECT id, v FROM tarn.tarn_sql.compacted ORDER BY id") == want
    assert tarn_sql("SELECT count(*) AS n FROM tarn_sql.compacted") == [{"n": len(want)}]
    assert optimize_op == "replace", f"OPTIMIZE committed operation {optimize_op!r}, want replace (a compaction)"
