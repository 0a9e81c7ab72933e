"""Optimistic concurrency between engines on one table: a commit from a stale
base is refused (409 CommitFailedException) or retried on the new base by the
client; no committed row is ever lost. Runs on the baseline SQLite catalog
and on tarn's REST catalog."""

import json
import threading

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException

from conftest import REST, http, oauth_token, py_rows, rows

SCHEMA = pa.schema([("id", pa.int64()), ("who", pa.string())])


def batch(i, who):
    return pa.Table.from_pylist([{"id": i, "who": who}], schema=SCHEMA)


def append_retrying(cat, name, data, tries=20):
    """PyIceberg appends; a CommitFailedException reloads the table and tries again."""
    for _ in range(tries):
        try:
            cat.load_table(name).append(data)
            return
        except CommitFailedException:
            continue
    raise AssertionError(f"{tries} commit conflicts in a row on {name}")


def test_stale_base_then_both_rows(catalog, spark):
    cat = catalog.py
    cat.create_namespace_if_not_exists("conc_ns")
    name = "conc_ns.stale"
    cat.create_table(name, schema=SCHEMA).append(batch(0, "base"))
    stale = cat.load_table(name)  # PyIceberg's base: snapshot 1
    spark.sql(f"INSERT INTO {catalog.spark}.{name} VALUES (1, 'spark')")  # snapshot 2 on the same base
    try:
        stale.append(batch(2, "pyiceberg"))  # retried on snapshot 2 by PyIceberg, or refused
    except CommitFailedException as e:
        assert "snapshot" in str(e).lower() or "conflict" in str(e).lower() or "requirement" in str(e).lower(), e
        append_retrying(cat, name, batch(2, "pyiceberg"))
    tbl = cat.load_table(name)
    assert py_rows(tbl, "id", "who") == [(0, "base"), (1, "spark"), (2, "pyiceberg")]
    assert rows(spark.sql(f"SELECT id, who FROM {catalog.spark}.{name} ORDER BY id")) == \
        [(0, "base"), (1, "spark"), (2, "pyiceberg")]
    assert len(tbl.snapshots()) == 3


def test_concurrent_writers_lose_nothing(catalog, spark):
    """Spark (its own commit retries) and PyIceberg (a thread, retrying on
    CommitFailedException) append to one table at the same time."""
    cat = catalog.py
    cat.create_namespace_if_not_exists("conc_ns")
    name = "conc_ns.race"
    cat.create_table(name, schema=SCHEMA, properties={"commit.retry.num-retries": "20"})
    n = 6
    errors = []

    def pyiceberg_writer():
        try:
            for i in range(n):
                append_retrying(cat, name, batch(100 + i, "pyiceberg"))
        except Exception as e:  # reported below
            errors.append(e)

    th = threading.Thread(target=pyiceberg_writer)
    th.start()
    for i in range(n):
        spark.sql(f"INSERT INTO {catalog.spark}.{name} VALUES ({200 + i}, 'spark')")
    th.join()
    assert not errors, errors
    want = sorted([(100 + i, "pyiceberg") for i in range(n)] + [(200 + i, "spark") for i in range(n)])
    assert py_rows(cat.load_table(name), "id", "who") == want
    assert rows(spark.sql(f"SELECT id, who FROM {catalog.spark}.{name} ORDER BY id")) == want
    assert len(cat.load_table(name).snapshots()) == 2 * n


def test_rest_refuses_stale_commit_with_409(rest, pyiceberg_catalog):
    """The wire answer itself: a commit whose assert-ref-snapshot-id is stale
    is 409 CommitFailedException and changes nothing."""
    cat = pyiceberg_catalog
    cat.create_namespace_if_not_exists("conc_ns")
    tbl = cat.create_table("conc_ns.wire", schema=SCHEMA)
    tbl.append(batch(1, "a"))
    tbl = cat.load_table("conc_ns.wire")
    status, _, body = oauth_token()
    assert status == 200, body
    token = json.loads(body)["access_token"]
    commit = {
        "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": 1}],
        "updates": [{"action": "set-properties", "updates": {"stale": "yes"}}],
    }
    status, _, body = http("POST", f"{REST}/v1/namespaces/conc_ns/tables/wire", json.dumps(commit).encode(),
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 409, body
    assert json.loads(body)["error"]["type"] == "CommitFailedException", body
    after = cat.load_table("conc_ns.wire")
    assert "stale" not in after.properties
    assert after.metadata_location == tbl.metadata_location


@pytest.mark.parametrize("secret,status", [("wrong-secret", 401), (None, 401)])
def test_rest_refuses_bad_credentials(rest, secret, status):
    if secret is None:
        got, _, body = http("GET", f"{REST}/v1/namespaces")
    else:
        got, _, body = oauth_token(client_secret=secret)
    assert got == status, body
    if secret is not None:
        assert json.loads(body)["error"] in ("invalid_client", "unauthorized_client"), body
