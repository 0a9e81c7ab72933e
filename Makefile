# The two commands of the README:
#   go run ./cmd/tarn quickstart   -- the main job on the embedded default
#   make test                      -- every test
.PHONY: test unit test-race test-meta-pg test-meta-pg-slow test-heavy test-scale-out build vet bench test-s3-suite test-engines test-dbt test-dbt-workflow test-dbt-adapter test-dbt-athena console test-console

build:
	go build -o tarn ./cmd/tarn

vet:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

# Every test: formatting and vet, the unit suite (real DuckDB, SQLite,
# servers on 127.0.0.1 and the real aws CLI, psql, boto3 clients), the race
# detector on the packages with goroutines, and the heavy suites.
test: vet unit test-race test-meta-pg test-heavy

unit:
	go test -count=1 -timeout 20m ./...

# The packages whose goroutines share state (engine pool and garbage
# holds, the query gate, transactions and async runs, the scheduler, pgwire
# connections, the object store's locks, the events ledger, the metadata
# write lock, the run ledger, the server's run group, concurrent Iceberg
# commits and the REST catalog's handlers).
RACE_PKGS = ./internal/engine/ ./internal/query/ ./internal/workflow/ ./internal/jobs/ ./internal/pgwire/ \
	./internal/events/ ./internal/alarms/ ./internal/catalog/ ./internal/storage/... \
	./internal/meta/ ./internal/runs/ ./internal/lake/ ./internal/iceberg/ ./internal/icebergrest/
test-race:
	go test -race -count=1 -timeout 30m $(RACE_PKGS)

# The metadata-using packages' tests again with their metadata on a real
# PostgreSQL (internal/meta/metatest starts Debian's server, one per test
# binary; a database per test). The aws CLI matrix of auth is left to unit:
# it exercises SigV4, not metadata. cmd/tarn's tests run the binary on a
# data folder of their own database each (metaEnv). About four minutes.
META_PG_PKGS = ./internal/meta/ ./internal/runs/ ./internal/events/ ./internal/auth/ ./internal/iceberg/ \
	./internal/icebergrest/ ./internal/crawler/ ./internal/alarms/ ./internal/deploy/ ./internal/lake/ ./internal/console/ \
	./internal/catalog/ ./internal/engine/ ./internal/warehouse/ ./internal/pgwire/ ./internal/client/ \
	./internal/dbt/ ./internal/api/ ./internal/query/ ./internal/workflow/ ./internal/s3api/ ./internal/jobs/ ./cmd/tarn/
# awsapi passes on PostgreSQL too but takes about 3 minutes (aws CLI runs):
# its own target, out of test-meta-pg's time budget.
META_PG_SLOW_PKGS = ./internal/awsapi/
test-meta-pg:
	TARN_TEST_META=postgres go test -count=1 -timeout 15m $(META_PG_PKGS)
test-meta-pg-slow:
	TARN_TEST_META=postgres go test -count=1 -timeout 15m $(META_PG_SLOW_PKGS)

# Suites with real engines and public conformance suites, out of the unit
# suite's time budget.
test-heavy: test-s3-suite test-engines test-dbt test-console test-scale-out

bench:
	go run ./bench -out docs/benchmarks.md

# The heavy S3 target, out of `go test ./...`: versitygw's S3 test suite
# (full-flow, 687 tests) against `tarn serve`; fails below S3_SUITE_MIN
# passes (598 of 687 pass on 2026-12-05; the minimum leaves room for a flaky case; about 190 s, build included:
# the object lock tests wait out their retentions).
test-s3-suite:
	S3_SUITE_MIN=$${S3_SUITE_MIN:-600} .ci/s3-suite.sh

# The heavy real-engines target (issue 15): PyIceberg, Spark 3.5 (local, the
# Iceberg runtime) and Trino (one server, Java 25) against `tarn serve`'s
# Iceberg REST catalog and S3 endpoint, driven by pytest (test/engines/);
# .ci/engines-install.sh installs the pinned engines (cached). Known gaps of
# tarn are xfails quoting the engine's error (TARN_ENGINES_STRICT=1 fails them).
test-engines:
	.ci/engines.sh

# The heavy dbt target (issue 16): examples/dbt built by dbt-core and
# dbt-postgres (.ci/requirements-dbt.txt) against `tarn serve`'s PostgreSQL
# endpoint over a fresh quickstart lake, the results checked with psql (about
# 35 s, build included). Known gaps (docs/dbt.md) are reported as GAP lines
# (TARN_DBT_STRICT=1 fails them).
test-dbt: test-dbt-workflow test-dbt-adapter test-dbt-athena
	.ci/dbt.sh

# dbt's adapter test suite (dbt-tests-adapter: basic, incremental,
# constraints, aliases, persist_docs, caching, utils; test/dbt-adapter/) by
# dbt-postgres against `tarn serve`; known gaps are strict xfails, so a new
# failure or a gap fixed fails it (docs/dbt.md; 103 pass, 10 xfail; about
# 4.5 min, 9 when the machine is busy: dbt starts ~250 times).
test-dbt-adapter:
	.ci/dbt-adapter.sh

# dbt as workflow steps (issue 16): examples/dbt and the guides' merge model
# run by `dbt:` steps of `tarn serve`, write-audit-publish's failed replay
# publishing nothing and the fixed one publishing (about 100 s).
test-dbt-workflow:
	.ci/dbt-workflow.sh

# dbt-athena (issue 16): examples/dbt-athena built by dbt-core and
# dbt-athena against `tarn serve`'s Athena, Glue, STS and S3 APIs over a
# fresh quickstart lake: first and incremental runs, a snapshot, tests, a
# duplicate-key replay and a key without glue:CreateTable (docs/dbt.md;
# about 2-5 min here).
test-dbt-athena:
	.ci/dbt-athena.sh

# The web console (issue 18): web/'s sources built by Vite into
# internal/console/dist, which is committed and embedded (go build needs no
# Node). Run after changing web/, and commit the new dist.
console:
	cd web && npm ci --no-audit --no-fund && npm run build

# The console in Debian's chromium, driven by chromedp against `tarn serve`
# over the quickstart lake, with axe-core's accessibility check
# (.ci/console.sh; about 1 min, build included).
# TARN_CONSOLE_SHOTS=docs/console refreshes the docs' screenshots.
test-console:
	.ci/console.sh

# The failover test (issue 17): versitygw, Debian's PostgreSQL and three
# tarn serve processes of the built binary on one lake; the leader is
# killed with kill -9 mid-step (docs/scale-out.md).
test-scale-out:
	TARN_SCALE_OUT=1 go test -count=1 -v -timeout 15m -run TestFailover ./test/scaleout/
