# Sourced by .ci/engines-install.sh and .ci/engines.sh: the pinned versions of
# the real engines (issue 15) and where their downloads are cached between runs.
# Iceberg 1.10.1: the newest release whose spark-runtime-3.5 and aws-bundle
# jars Maven Central both serves here (aws-bundle 1.10.2 is not served).
ICEBERG_VERSION=1.10.1
# Trino 476: the newest trino-server tarball Maven Central serves here (480
# and 483 are not); it needs Java 24 or later.
TRINO_VERSION=476
SQLITE_JDBC_VERSION=3.51.1.0
ENGINES_CACHE="${TARN_ENGINES_CACHE:-$HOME/.cache/tarn-engines}"
MAVEN_REPO="${TARN_MAVEN_REPO:-$HOME/.m2/repository}"
TRINO_HOME="$ENGINES_CACHE/trino-server-$TRINO_VERSION"
TRINO_JAVA_HOME="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
# Spark 3.5 runs on Java 17 (the machine's default), not on 25.
SPARK_JAVA_HOME="${SPARK_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
ENGINES_JARS="$ENGINES_CACHE/jars/iceberg-spark-runtime-3.5_2.12-$ICEBERG_VERSION.jar,$ENGINES_CACHE/jars/iceberg-aws-bundle-$ICEBERG_VERSION.jar,$ENGINES_CACHE/jars/sqlite-jdbc-$SQLITE_JDBC_VERSION.jar"
