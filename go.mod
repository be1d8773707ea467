module github.com/atoll-iac/atoll

go 1.26.0

require (
	github.com/google/go-github/v60 v60.0.0
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/google/go-querystring v1.1.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
