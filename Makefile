# The two commands the README names: `make server` runs atoll, `make test`
# runs every test. Both build OpenTofu once into ~/.cache/atoll-tools first.
TOFU_PATH = $$(scripts/install-tofu):$$PATH

.PHONY: test server build

test:
	PATH="$(TOFU_PATH)" go test -race -count=1 ./...

server:
	PATH="$(TOFU_PATH)" go run ./cmd/atoll server

build:
	go build -o atoll ./cmd/atoll
