#!/usr/bin/env bash
# Installs the real engines of make test-engines (issue 15), pinned and cached
# between runs: PyIceberg, PySpark and Trino's Python client into .venv (made
# by .ci/run from .ci/requirements.txt); the Iceberg Spark runtime, the
# Iceberg AWS bundle and SQLite's JDBC driver from Maven Central; Trino's
# server tarball from Maven Central, unpacked with only its Iceberg plugin.
# Idempotent: a second run checks and prints the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/engines-env.sh
t0=$(date +%s)

if [ ! -x .venv/bin/python ]; then
  echo "no .venv: .ci/run makes it (python3 -m venv .venv; .venv/bin/pip install -r .ci/requirements.txt)" >&2
  exit 1
fi
if ! cmp -s .ci/requirements-engines.txt .venv/requirements-engines.txt; then
  .venv/bin/pip install -q -c .ci/requirements.txt -r .ci/requirements-engines.txt
  cp .ci/requirements-engines.txt .venv/requirements-engines.txt
fi
.venv/bin/python -c 'import pyiceberg, pyspark, trino, pytest; print("pyiceberg", pyiceberg.__version__, "pyspark", pyspark.__version__, "trino client", trino.__version__)'
t1=$(date +%s)

# Maven Central through mvn (dependency:get), copied into the cache.
if ! command -v mvn >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq maven >/dev/null
fi
mkdir -p "$ENGINES_CACHE/jars"
fetch() { # group artifact version [packaging]
  local g=$1 a=$2 v=$3 p=${4:-jar}
  local f="$MAVEN_REPO/${g//.//}/$a/$v/$a-$v.$p"
  if [ ! -s "$f" ]; then
    mvn -q -B -Dmaven.repo.local="$MAVEN_REPO" dependency:get -Dtransitive=false -Dartifact="$g:$a:$v:$p" >&2
  fi
  echo "$f"
}
for spec in "org.apache.iceberg iceberg-spark-runtime-3.5_2.12 $ICEBERG_VERSION" \
  "org.apache.iceberg iceberg-aws-bundle $ICEBERG_VERSION" \
  "org.xerial sqlite-jdbc $SQLITE_JDBC_VERSION"; do
  set -- $spec
  if [ ! -s "$ENGINES_CACHE/jars/$2-$3.jar" ]; then
    cp "$(fetch "$1" "$2" "$3")" "$ENGINES_CACHE/jars/$2-$3.jar.tmp"
    mv "$ENGINES_CACHE/jars/$2-$3.jar.tmp" "$ENGINES_CACHE/jars/$2-$3.jar"
  fi
done
t2=$(date +%s)

# Trino: the server tarball (about 820 MB), unpacked once; the plugins other
# than Iceberg are removed (fewer classes to load at each start).
if [ ! -x "$TRINO_HOME/bin/launcher" ]; then
  tgz="$(fetch io.trino trino-server "$TRINO_VERSION" tar.gz)"
  rm -rf "$TRINO_HOME.tmp"
  mkdir -p "$TRINO_HOME.tmp"
  tar xzf "$tgz" -C "$TRINO_HOME.tmp" --strip-components=1
  find "$TRINO_HOME.tmp/plugin" -mindepth 1 -maxdepth 1 ! -name iceberg -exec rm -rf {} +
  mv "$TRINO_HOME.tmp" "$TRINO_HOME"
  rm -f "$tgz" # the unpacked server is the cache; the tarball is 820 MB of disk
fi
if [ ! -x "$TRINO_JAVA_HOME/bin/java" ]; then
  echo "Trino $TRINO_VERSION needs Java 24 or later: none at $TRINO_JAVA_HOME (set TRINO_JAVA_HOME)" >&2
  exit 1
fi
t3=$(date +%s)
echo "engines: Iceberg $ICEBERG_VERSION jars, Trino $TRINO_VERSION on $("$TRINO_JAVA_HOME/bin/java" -version 2>&1 | head -1); installed in $((t1 - t0))s (Python) + $((t2 - t1))s (jars) + $((t3 - t2))s (Trino)"
