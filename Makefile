# The two commands of the README:
#   go run ./cmd/tarn quickstart   -- the main job on the embedded default
#   make test                      -- every test
.PHONY: test build vet bench

build:
	go build -o tarn ./cmd/tarn

vet:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

test: vet
	go test -count=1 -timeout 20m ./...

bench:
	go run ./bench -out docs/benchmarks.md
