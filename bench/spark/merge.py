"""Spark's side of the Iceberg MERGE benchmark (docs/benchmarks.md): a local
Spark session (local[1], the pinned Iceberg runtime of the engines rig) with
a Hadoop catalog on a local folder writes the same 10M-row table tarn's bench
writes and MERGEs the same 1% of its rows, copy-on-write (Spark's default).

Run it with the rig's environment:
  . .ci/engines-env.sh && JAVA_HOME=$SPARK_JAVA_HOME .venv/bin/python bench/spark/merge.py --rows 10000000
It prints one JSON line: the seconds of the load and of each MERGE."""

import argparse
import json
import os
import tempfile
import time

from pyspark.sql import SparkSession


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    jars = os.environ["ENGINES_JARS"]
    warehouse = tempfile.mkdtemp(prefix="tarn-bench-spark-")
    spark = (SparkSession.builder.master("local[1]").appName("tarn-bench-merge")
             .config("spark.jars", jars)
             .config("spark.driver.memory", "2g")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
             .config("spark.sql.catalog.local", "org.apache.iceberg.spark.SparkCatalog")
             .config("spark.sql.catalog.local.type", "hadoop")
             .config("spark.sql.catalog.local.warehouse", "file://" + warehouse)
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    n = args.rows
    start = time.monotonic()
    spark.sql("CREATE TABLE local.b.merged (id bigint, v double, s string) USING iceberg")
    spark.sql(f"INSERT INTO local.b.merged SELECT id, id / 7.0, concat('row ', id) FROM range({n})")
    load = time.monotonic() - start
    merges = []
    for _ in range(args.reps):
        start = time.monotonic()
        spark.sql(f"""MERGE INTO local.b.merged t USING (SELECT id, -1.0D AS v FROM range(0, {n}, 100)) s
                      ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v""")
        merges.append(time.monotonic() - start)
    got = spark.sql("SELECT count(*), count_if(v = -1.0) FROM local.b.merged").collect()[0]
    assert got[0] == n and got[1] == n // 100, got
    print(json.dumps({"rows": n, "load_s": round(load, 3), "merge_s": [round(m, 3) for m in merges]}))
    spark.stop()


if __name__ == "__main__":
    main()
