package server

import (
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
)

// newForges builds the forges the configuration enables. It is the one
// place that knows which forges exist.
func newForges(cfg Config) ([]vcs.Forge, error) {
	var forges []vcs.Forge
	if cfg.GitHub.Token != "" || cfg.GitHub.WebhookSecret != "" {
		f, err := github.New(cfg.GitHub)
		if err != nil {
			return nil, err
		}
		forges = append(forges, f)
	}
	return forges, nil
}

// secrets are the configured credentials, kept out of tool environments and
// output.
func secrets(cfg Config) []string {
	return []string{cfg.GitHub.Token, cfg.GitHub.WebhookSecret, cfg.Redis.Password}
}
