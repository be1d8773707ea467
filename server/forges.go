package server

import (
	"log/slog"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
)

// newForges builds the forges the configuration enables, warning of what
// they lack. It is the one place that knows which forges exist.
func newForges(log *slog.Logger, cfg Config) ([]vcs.Forge, error) {
	var forges []vcs.Forge
	if cfg.GitHub.Token != "" || cfg.GitHub.WebhookSecret != "" {
		f, err := github.New(cfg.GitHub)
		if err != nil {
			return nil, err
		}
		forges = append(forges, f)
		if cfg.GitHub.WebhookSecret == "" {
			log.Warn("NO WEBHOOK SECRET: anyone who can reach this server can make it plan any open pull request; set --gh-webhook-secret")
		}
	}
	if cfg.GitLab.Token != "" || cfg.GitLab.WebhookSecret != "" {
		f, err := gitlab.New(cfg.GitLab)
		if err != nil {
			return nil, err
		}
		forges = append(forges, f)
		if cfg.GitLab.WebhookSecret == "" {
			log.Warn("NO WEBHOOK SECRET: anyone who can reach this server can make it plan any open merge request; set --gitlab-webhook-secret")
		}
	}
	if len(forges) == 0 {
		log.Warn("no forge configured: every webhook will be refused; set --gh-token or --gitlab-token")
	}
	return forges, nil
}

// secrets are the configured credentials, kept out of tool environments and
// output.
func secrets(cfg Config) []string {
	return []string{cfg.GitHub.Token, cfg.GitHub.WebhookSecret, cfg.GitLab.Token, cfg.GitLab.WebhookSecret, cfg.Redis.Password}
}
