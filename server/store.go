package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
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

// redisPrefix starts every key atoll keeps in Redis.
const redisPrefix = "atoll:"

// stores are where the server keeps what must outlive a job or a
// process: locks, the queue of tasks, and plans.
type stores struct {
	locker locking.Locker
	tasks  queue.Store
	plans  plans.Store
	jobs   joblog.Store
	// ping checks that they answer.
	ping  func(context.Context) error
	close func() error
}

// openStores opens them: in Redis when cfg.Redis.Addr is set, else in
// bbolt files and directories under the data directory.
func openStores(cfg Config) (stores, error) {
	if cfg.Redis.Addr == "" {
		locks, err := locking.OpenBolt(filepath.Join(cfg.DataDir, "locks.db"))
		if err != nil {
			return stores{}, err
		}
		tasks, err := queue.OpenBolt(filepath.Join(cfg.DataDir, "tasks.db"))
		if err != nil {
			return stores{}, errors.Join(err, locks.Close())
		}
		jobs, err := joblog.OpenBolt(filepath.Join(cfg.DataDir, "jobs.db"), cfg.JobRetention)
		if err != nil {
			return stores{}, errors.Join(err, tasks.Close(), locks.Close())
		}
		var kept plans.Store = plans.NewLocal(filepath.Join(cfg.DataDir, "plans"))
		if cfg.PlansDir != "" {
			kept = plans.NewCarried(cfg.PlansDir)
		}
		return stores{
			locker: locks,
			tasks:  tasks,
			plans:  kept,
			jobs:   jobs,
			ping:   func(context.Context) error { return nil },
			close:  func() error { return errors.Join(jobs.Close(), tasks.Close(), locks.Close()) },
		}, nil
	}
	opts := &redis.Options{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB}
	if cfg.Redis.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), redisPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		return stores{}, errors.Join(fmt.Errorf("redis at %s does not answer: %w", cfg.Redis.Addr, err), client.Close())
	}
	if err := checkRedisVersion(ctx, client); err != nil {
		return stores{}, errors.Join(err, client.Close())
	}
	tasks, err := queue.NewRedis(ctx, client, redisPrefix)
	if err != nil {
		return stores{}, errors.Join(err, client.Close())
	}
	return stores{
		locker: locking.NewRedis(client, redisPrefix),
		tasks:  tasks,
		plans:  plans.NewRedis(client, redisPrefix, filepath.Join(cfg.DataDir, "plans")),
		jobs:   joblog.NewRedis(client, redisPrefix, cfg.JobRetention),
		ping:   func(ctx context.Context) error { return client.Ping(ctx).Err() },
		close:  client.Close,
	}, nil
}

// checkRedisVersion refuses a Redis older than 7, which lacks commands
// atoll uses (PEXPIRETIME, XAUTOCLAIM's current form).
func checkRedisVersion(ctx context.Context, client *redis.Client) error {
	info, err := client.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("asking Redis its version: %w", err)
	}
	for line := range strings.Lines(info) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:")
		if !ok {
			continue
		}
		major, _, _ := strings.Cut(v, ".")
		if n, err := strconv.Atoi(major); err != nil || n < 7 {
			return fmt.Errorf("redis at %s is version %s: atoll needs Redis 7 or later", client.Options().Addr, v)
		}
		return nil
	}
	return nil
}
