# The two commands the README names: `make testdrive` shows atoll at work
# on this machine alone, `make test` runs every test. Both build OpenTofu
# once into ~/.cache/atoll-tools first; so does `make server`, which runs
# atoll for real.
TOFU_PATH = $$(scripts/install-tofu):$$PATH

.PHONY: testdrive test server build

testdrive:
	PATH="$(TOFU_PATH)" go run ./cmd/atoll testdrive

test:
	PATH="$(TOFU_PATH)" go test -race -count=1 ./...

server:
	PATH="$(TOFU_PATH)" go run ./cmd/atoll server

build:
	go build -o atoll ./cmd/atoll
