package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/atoll-iac/atoll/locking"
)

// RedisConfig says how to reach the Redis that replicas share.
type RedisConfig struct {
	// Addr is host:port; "" keeps everything in the embedded store.
	Addr     string
	Password string
	DB       int
	// TLS connects with TLS, checking the server's certificate.
	TLS bool
}

// redisPingTimeout bounds the check that Redis answers at start.
const redisPingTimeout = 5 * time.Second

// openStore opens where locks and leases live: Redis when cfg.Redis.Addr
// is set, else a bbolt file under the data directory. close releases it.
func openStore(cfg Config) (store locking.Locker, shared bool, close func() error, err error) {
	if cfg.Redis.Addr == "" {
		b, err := locking.OpenBolt(filepath.Join(cfg.DataDir, "locks.db"))
		if err != nil {
			return nil, false, nil, err
		}
		return b, false, b.Close, nil
	}
	opts := &redis.Options{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB}
	if cfg.Redis.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), redisPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, false, nil, errors.Join(fmt.Errorf("redis at %s does not answer: %w", cfg.Redis.Addr, err), client.Close())
	}
	return locking.NewRedis(client, "atoll:"), true, client.Close, nil
}
