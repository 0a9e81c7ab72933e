"""Fixtures of the real-engines rig (make test-engines, .ci/engines.sh).

.ci/engines.sh starts one `tarn serve` (S3 endpoint and REST API, the Iceberg
REST catalog at <api>/iceberg), one Trino server whose catalogs `tarn`
(OAuth2) and `tarn_sigv4` (SigV4) are that REST catalog, and passes their
addresses in TARN_ENGINES_* variables. The Spark session (local[1], small
driver) is one per run. A subset: ENGINES_PYTEST_ARGS="-k trino" make
test-engines.

Catalogs:
- `tarn`: tarn's Iceberg REST catalog (OAuth2 client credentials: the access
  key id and secret; Spark also has it as `tarn_sigv4`, signing with SigV4).
- `base`: a SQLite catalog file shared by PyIceberg (SqlCatalog) and Spark
  (JdbcCatalog) with its data on tarn's S3 endpoint: it tests the S3 endpoint
  with each engine's own S3 client apart from the REST catalog.

Known gaps of tarn (GAPS below) are xfails that quote the engine's error;
TARN_ENGINES_STRICT=1 makes them failures. A step that no longer hits its
gap passes with a warning in pytest's summary: then drop its known_gap.
"""

import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from datetime import datetime, timezone

import pytest

REQUIRED = ["TARN_ENGINES_BIN", "TARN_ENGINES_DATA", "TARN_ENGINES_S3", "TARN_ENGINES_API",
            "TARN_ENGINES_WORK", "TARN_ENGINES_JARS", "TARN_ACCESS_KEY_ID", "TARN_SECRET_ACCESS_KEY"]
missing = [v for v in REQUIRED if not os.environ.get(v)]
if missing:
    raise RuntimeError("run these tests with make test-engines (.ci/engines.sh); missing " + ", ".join(missing))

TARN = os.environ["TARN_ENGINES_BIN"]
DATA = os.environ["TARN_ENGINES_DATA"]
S3 = os.environ["TARN_ENGINES_S3"]
API = os.environ["TARN_ENGINES_API"]
WORK = os.environ["TARN_ENGINES_WORK"]
JARS = os.environ["TARN_ENGINES_JARS"]
BUCKET = os.environ.get("TARN_ENGINES_BUCKET", "lake")
KEY = os.environ["TARN_ACCESS_KEY_ID"]
SECRET = os.environ["TARN_SECRET_ACCESS_KEY"]
TRINO = os.environ.get("TARN_ENGINES_TRINO", "")
REST = API + "/iceberg"
# Given explicitly: the clients' fallback to <uri>/v1/oauth/tokens is deprecated.
OAUTH_URI = REST + "/v1/oauth/tokens"
REGION = "us-east-1"
BASE_DB = os.path.join(WORK, "base-catalog.db")
BASE_WAREHOUSE = f"s3://{BUCKET}/baseline"
# The SQLite file in WAL mode, both sides waiting for a busy file. PyIceberg
# creates the catalog's tables; Spark's JdbcCatalog must not
# (jdbc.init-catalog-tables=false): its check leaves a result set open on a
# pooled connection, whose read transaction then pins an old view of the file
# (WAL) or blocks PyIceberg's commits ("database is locked").
with sqlite3.connect(BASE_DB) as _db:
    _db.execute("PRAGMA journal_mode=WAL")

# PyIceberg's FileIO properties for tarn's S3 endpoint (PyArrow's S3 file
# system, path-style addressing).
S3_PROPS = {
    "py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
    "s3.endpoint": S3,
    "s3.access-key-id": KEY,
    "s3.secret-access-key": SECRET,
    "s3.region": REGION,
    "s3.force-virtual-addressing": "false",
}


def http(method, url, body=None, headers=None):
    """One HTTP request; returns (status, headers, body bytes) for any status."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def oauth_token(client_id=KEY, client_secret=SECRET):
    """POST /v1/oauth/tokens (client credentials), as the Java and Python clients do."""
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client_id,
                                   "client_secret": client_secret, "scope": "catalog"}).encode()
    return http("POST", OAUTH_URI, form, {"Content-Type": "application/x-www-form-urlencoded"})


_rest_probe = None


def rest_probe():
    """(served, why): whether tarn serves the Iceberg REST catalog, by GET
    <api>/iceberg/v1/config without credentials (401 when served)."""
    global _rest_probe
    if _rest_probe is None:
        try:
            status, _, body = http("GET", REST + "/v1/config")
            served = status != 404
            _rest_probe = (served, f"GET {REST}/v1/config answered {status} {body[:120]!r}")
        except OSError as e:
            _rest_probe = (False, f"GET {REST}/v1/config: {e}")
    return _rest_probe


@pytest.fixture(scope="session")
def rest():
    served, why = rest_probe()
    if not served:
        pytest.fail(f"tarn serves no Iceberg REST catalog: {why}")
    return REST


def tarn_query(sql, database=None):
    """`tarn query --format json SQL` against the running server: (rows, stderr, exit code)."""
    args = [TARN, "--data", DATA, "query", "--format", "json"]
    if database:
        args += ["--database", database]
    p = subprocess.run(args + [sql], capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.strip()] if p.returncode == 0 else None
    return rows, p.stderr.strip(), p.returncode


def make_key(name, policy):
    """`tarn keys create NAME --policy FILE`: (access key id, secret)."""
    path = os.path.join(WORK, f"{name}-policy.json")
    with open(path, "w") as f:
        json.dump(policy, f)
    p = subprocess.run([TARN, "--data", DATA, "keys", "create", name, "--policy", path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    vals = dict(line.strip().split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    return vals["AWS_ACCESS_KEY_ID"], vals["AWS_SECRET_ACCESS_KEY"]


def tarn_sql(sql, database=None):
    """One statement through `tarn query`; its rows, or an AssertionError
    carrying tarn's error (which known_gap can recognise)."""
    rows, err, rc = tarn_query(sql, database)
    if rc != 0:
        raise AssertionError(f"tarn query {sql!r} failed: {err}")
    return rows


def tarn_check(sql, expected, database=None):
    """A cross check through `tarn query`: tarn reads what the engines wrote."""
    rows, err, rc = tarn_query(sql, database)
    assert rc == 0, f"tarn query {sql!r} failed: {err}"
    assert rows == expected
    return rows


# tarn's known gaps: (text or texts of the engine's error, what tarn must do). A step
# that fails with such an error is an xfail naming the gap and quoting the
# error; any other error fails. TARN_ENGINES_STRICT=1 makes them failures.
GAPS = {
    "vended-credentials": (
        ("request is not signed", "Anonymous users cannot"),
        "tarn's REST catalog vends no S3 credentials (X-Iceberg-Access-Delegation: "
        "vended-credentials): a client given only the catalog credential writes unsigned"),
}


class known_gap:
    """with known_gap("vended-credentials"): a step that may hit that gap of tarn."""

    def __init__(self, name, when=True):
        self.name, self.when = name, when  # when=False: the step cannot hit it (another catalog)
        match, self.why = GAPS[name]
        self.matches = (match,) if isinstance(match, str) else match

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if not self.when:
            return False
        if exc is None:
            warnings.warn(f"tarn's known gap {self.name!r} was not hit: drop its known_gap and GAPS entry")
            return False
        if os.environ.get("TARN_ENGINES_STRICT") == "1":
            return False
        text = str(exc)
        hit = next((m for m in self.matches if m in text), None)
        if hit:
            line = next((ln for ln in text.splitlines() if hit in ln), text)[:400]
            pytest.xfail(f"{self.why}: {line.strip()}")
        return False


def gap_found(name, detail):
    """A known gap seen without an exception (a wrong value): xfail at the
    end of a test whose other checks passed (a failure when TARN_ENGINES_STRICT=1)."""
    why = GAPS[name][1]
    if os.environ.get("TARN_ENGINES_STRICT") == "1":
        pytest.fail(f"{why}: {detail}")
    pytest.xfail(f"{why}: {detail}")


@pytest.fixture(scope="session")
def pyiceberg_catalog(rest):
    from pyiceberg.catalog.rest import RestCatalog
    return RestCatalog("tarn", **{"uri": rest, "credential": f"{KEY}:{SECRET}",
                                  "oauth2-server-uri": OAUTH_URI, **S3_PROPS})


@pytest.fixture(scope="session")
def base_catalog():
    """PyIceberg's SQL catalog on the SQLite file Spark's `base` catalog shares."""
    from pyiceberg.catalog.sql import SqlCatalog
    return SqlCatalog("base", **{"uri": f"sqlite:///{BASE_DB}?timeout=30", "warehouse": BASE_WAREHOUSE, **S3_PROPS})


def spark_catalog_conf(name, extra):
    conf = {
        f"spark.sql.catalog.{name}": "org.apache.iceberg.spark.SparkCatalog",
        f"spark.sql.catalog.{name}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"spark.sql.catalog.{name}.s3.endpoint": S3,
        f"spark.sql.catalog.{name}.s3.path-style-access": "true",
        f"spark.sql.catalog.{name}.s3.access-key-id": KEY,
        f"spark.sql.catalog.{name}.s3.secret-access-key": SECRET,
        f"spark.sql.catalog.{name}.client.region": REGION,
        # Spark must see other engines' commits at once: its caching catalog
        # would serve a table as loaded up to 30 s before.
        f"spark.sql.catalog.{name}.cache-enabled": "false",
    }
    conf.update({f"spark.sql.catalog.{name}.{k}": v for k, v in extra.items()})
    return conf


@pytest.fixture(scope="session")
def spark(base_catalog):
    """One local Spark session for the run, with its Iceberg catalogs: `tarn`
    (tarn's REST catalog, OAuth2), `tarn_sigv4` (the same, SigV4), `base`
    (the shared SQLite catalog) and `local` (a Hadoop catalog in a folder).
    Catalogs load lazily: a missing REST catalog fails only the queries on it."""
    from pyspark.sql import SparkSession
    conf = {
        "spark.jars": JARS,
        "spark.driver.memory": "1g",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -Daws.region=us-east-1",
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.local.dir": os.path.join(WORK, "spark-tmp"),
    }
    # A Hadoop catalog on a local folder: proves the jars and Java without tarn.
    conf.update({"spark.sql.catalog.local": "org.apache.iceberg.spark.SparkCatalog",
                 "spark.sql.catalog.local.type": "hadoop",
                 "spark.sql.catalog.local.warehouse": os.path.join(WORK, "spark-local-warehouse")})
    conf.update(spark_catalog_conf("tarn", {"type": "rest", "uri": REST, "credential": f"{KEY}:{SECRET}",
                                            "oauth2-server-uri": OAUTH_URI}))
    # tarn's REST catalog again, requests signed with SigV4 (no OAuth2 token).
    conf.update(spark_catalog_conf("tarn_sigv4", {
        "type": "rest", "uri": REST, "rest.sigv4-enabled": "true", "rest.signing-region": REGION,
        "rest.signing-name": "execute-api", "rest.access-key-id": KEY, "rest.secret-access-key": SECRET}))
    conf.update(spark_catalog_conf("base", {"catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
                                            "uri": f"jdbc:sqlite:{BASE_DB}", "jdbc.busy_timeout": "30000",
                                            "jdbc.init-catalog-tables": "false",
                                            "warehouse": BASE_WAREHOUSE}))
    b = SparkSession.builder.master("local[1]").appName("tarn-engines")
    for k, v in conf.items():
        b = b.config(k, v)
    t0 = time.time()
    s = b.getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    print(f"spark session started in {time.time() - t0:.1f}s")
    yield s
    s.stop()


def rows(df):
    return [tuple(r) for r in df.collect()]


def utc(s):
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


def py_rows(tbl, *cols):
    """A table's rows as sorted tuples of the given columns (timestamps as UTC text)."""
    out = []
    for r in tbl.scan().to_arrow().to_pylist():
        out.append(tuple(r[c].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
                         if isinstance(r[c], datetime) else r[c] for c in cols))
    return sorted(out, key=lambda t: tuple((x is None, x) for x in t))


@pytest.fixture(scope="session")
def trino():
    """A function running one Trino statement and returning its rows, once
    Trino (started by .ci/engines.sh) is up."""
    if not TRINO:
        pytest.skip("no Trino server (TARN_ENGINES_TRINO unset)")
    import trino as trino_client
    u = urllib.parse.urlparse(TRINO)
    t0 = time.time()
    pid = int(os.environ.get("TARN_ENGINES_TRINO_PID", "0"))
    while True:  # poll /v1/info until the server says it has started
        try:
            status, _, body = http("GET", TRINO + "/v1/info")
            if status == 200 and json.loads(body).get("starting") is False:
                break
        except OSError:
            pass
        if pid:
            try:
                os.kill(pid, 0)
            except OSError:
                log = open(os.environ.get("TARN_ENGINES_TRINO_LOG", "/dev/null")).read()[-3000:]
                pytest.fail(f"Trino exited before it was ready:\n{log}")
        if time.time() - t0 > 180:
            pytest.fail("Trino did not start in 180 s")
        time.sleep(0.2)
    print(f"trino ready after a further {time.time() - t0:.1f}s")
    conn = trino_client.dbapi.connect(host=u.hostname, port=u.port, user="tarn", catalog="tarn")

    def run(sql):
        cur = conn.cursor()
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]
    yield run
    conn.close()


class Catalog:
    """One Iceberg catalog as each engine names it: `spark` is the Spark
    catalog name, `py` the PyIceberg catalog, `tarn` whether it is tarn's."""

    def __init__(self, spark, py, tarn):
        self.spark, self.py, self.tarn = spark, py, tarn

    def __repr__(self):
        return self.spark


@pytest.fixture(scope="session", params=["base", "tarn"])
def catalog(request):
    """Each test taking it runs on the baseline SQLite catalog (tarn's S3
    endpoint only) and on tarn's REST catalog (skipped while not served)."""
    if request.param == "base":
        return Catalog("base", request.getfixturevalue("base_catalog"), False)
    return Catalog("tarn", request.getfixturevalue("pyiceberg_catalog"), True)
