# The two commands the README names: `make testdrive` shows atoll at work
# on this machine alone, `make test` runs every test. Both build OpenTofu
# once into ~/.cache/atoll-tools first; so do `make server`, which runs
# atoll for real, and `make bench`, which measures it.
TOFU_PATH = $$(scripts/install-tofu):$$PATH

.PHONY: testdrive test bench server build

testdrive:
	PATH="$(TOFU_PATH)" go run ./cmd/atoll testdrive

test:
	PATH="$(TOFU_PATH)" go test -race -count=1 ./...

# Every speed and memory figure beside the raw tool, in one run: a few
# minutes. docs/development.md says what each means.
bench:
	PATH="$(TOFU_PATH)" scripts/bench

server:
	PATH="$(TOFU_PATH)" go run ./cmd/atoll server

build:
	go build -o atoll ./cmd/atoll
