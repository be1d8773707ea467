# syntax=docker/dockerfile:1

# OpenTofu, built from its Go module (no prebuilt binary is fetched).
FROM golang:1.26-bookworm AS tofu
ARG TOFU_VERSION=1.10.7
ENV GOFLAGS=-mod=mod
RUN dir="$(cd /tmp && go mod download -json "github.com/opentofu/opentofu@v${TOFU_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" \
 && cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o /out/tofu ./cmd/tofu

FROM golang:1.26-bookworm AS atoll
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/atoll ./cmd/atoll

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 atoll \
 && install -d -o atoll -g atoll -m 0700 /home/atoll/.atoll
COPY --from=tofu /out/tofu /usr/local/bin/tofu
COPY --from=atoll /out/atoll /usr/local/bin/atoll
USER atoll
# Made above, owned by atoll: a named volume mounted here starts as a
# copy of it, writable by atoll, not as a root-owned empty directory.
ENV ATOLL_DATA_DIR=/home/atoll/.atoll
# Debian's git (libcurl-gnutls) reads every file of /etc/ssl/certs at each
# HTTPS fetch, some 20 ms; the same authorities in one bundle take a third.
ENV GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt GIT_SSL_CAPATH=
EXPOSE 4141
ENTRYPOINT ["atoll"]
CMD ["server"]
