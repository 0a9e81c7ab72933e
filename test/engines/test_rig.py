"""The engines themselves start on this machine, before any tarn catalog is
involved: Spark with the Iceberg runtime on Java 17 (a Hadoop catalog on a
local folder), Trino on Java 25, PyIceberg with PyArrow."""

from conftest import rows


def test_spark_iceberg_runtime_local(spark):
    spark.sql("CREATE NAMESPACE IF NOT EXISTS local.rig")
    spark.sql("CREATE TABLE local.rig.t (id bigint, ts timestamp, v string) USING iceberg "
              "PARTITIONED BY (days(ts), bucket(4, id))")
    spark.sql("INSERT INTO local.rig.t VALUES (1, TIMESTAMP '2025-01-01 10:00:00', 'a'), "
              "(2, TIMESTAMP '2025-01-02 10:00:00', 'b'), (3, TIMESTAMP '2025-01-02 11:00:00', 'c')")
    spark.sql("MERGE INTO local.rig.t t USING (SELECT * FROM VALUES (2L, TIMESTAMP '2025-01-02 10:00:00', 'B'), "
              "(4L, TIMESTAMP '2025-01-03 10:00:00', 'd') AS s(id, ts, v)) s ON t.id = s.id "
              "WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT *")
    spark.sql("DELETE FROM local.rig.t WHERE id = 1")
    assert rows(spark.sql("SELECT id, v FROM local.rig.t ORDER BY id")) == [(2, "B"), (3, "c"), (4, "d")]
    assert [r[0] for r in rows(spark.sql("SELECT operation FROM local.rig.t.snapshots ORDER BY committed_at"))] == \
        ["append", "overwrite", "delete"]


def test_trino_answers(trino):
    assert trino("SELECT 1") == [(1,)]
    assert ("tarn",) in trino("SHOW CATALOGS")


def test_pyiceberg_imports():
    import pyarrow
    import pyiceberg
    from pyiceberg.catalog.rest import RestCatalog  # noqa: F401
    from pyiceberg.io.pyarrow import PyArrowFileIO  # noqa: F401
    assert pyiceberg.__version__ == "0.12.0"
    assert pyarrow.__version__
