#!/usr/bin/env bash
# make test-console (issue 18): the web console in a real browser. Checks
# that the committed build (internal/console/dist) is the build of web/'s
# sources and that its JavaScript stays under 1 MB gzipped, builds tarn,
# then runs internal/console's TestConsoleBrowser: Debian's chromium driven
# by chromedp against `tarn serve` over a fresh quickstart lake (sign in,
# catalog, query and chart, 100k rows, error position, cancel, sign out, a
# restricted key), with axe-core's accessibility check on each page.
# TARN_CONSOLE_SHOTS=docs/console saves the screenshots the docs show.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The front end's packages, pinned by web/package-lock.json (the build's
# tools and axe-core, which the test injects; the product does not serve it).
if ! cmp -s web/package-lock.json web/node_modules/.tarn-package-lock.json; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json web/node_modules/.tarn-package-lock.json
fi

# The committed build must be the sources' build.
(cd web && npx tsc --noEmit && npx vite build --logLevel warn --outDir "$work/dist" --emptyOutDir)
if ! diff -r "$work/dist" internal/console/dist >"$work/dist.diff"; then
  head -20 "$work/dist.diff"
  echo "FAIL internal/console/dist is not the build of web/: run make console and commit internal/console/dist"
  exit 1
fi
js=0
for f in internal/console/dist/assets/*.js; do
  js=$((js + $(gzip -9 -c "$f" | wc -c)))
done
echo "console JavaScript: $js bytes gzipped (budget 1048576)"
if [ "$js" -gt 1048576 ]; then
  echo "FAIL the console's JavaScript is over 1 MB gzipped"
  exit 1
fi

go build -o "$work/tarn" ./cmd/tarn
shots="${TARN_CONSOLE_SHOTS:-}"
if [ -n "$shots" ] && [ "${shots#/}" = "$shots" ]; then shots="$root/$shots"; fi
TARN_CONSOLE_E2E="$work/tarn" TARN_CONSOLE_SHOTS="$shots" go test -count=1 -timeout 15m -run 'TestConsoleBrowser' -v ./internal/console/
