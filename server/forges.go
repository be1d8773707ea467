package server

import (
	"cmp"
	"log/slog"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
)

// newForges builds the forges the configuration enables, their API
// requests counted in m, warning of what they lack. It is the one place
// that knows which forges exist.
func newForges(log *slog.Logger, cfg Config, m *metrics) ([]vcs.Forge, error) {
	var forges []vcs.Forge
	if cfg.GitHub.Token != "" || cfg.GitHub.AppID != 0 || cfg.GitHub.WebhookSecret != "" {
		c := cfg.GitHub
		c.HTTPClient = m.meter("github", c.HTTPClient)
		c.Logger = cmp.Or(c.Logger, log)
		f, err := github.New(c)
		if err != nil {
			return nil, err
		}
		if app, ok := f.App(); ok {
			forges = append(forges, app) // with an App's abilities
		} else {
			forges = append(forges, f)
		}
		warnUnsigned(log, cfg, cfg.GitHub.WebhookSecret, "GitHub", "pull request", "--gh-webhook-secret", cfg.inbox())
	}
	if cfg.GitLab.Token != "" || cfg.GitLab.WebhookSecret != "" {
		c := cfg.GitLab
		c.HTTPClient = m.meter("gitlab", c.HTTPClient)
		f, err := gitlab.New(c)
		if err != nil {
			return nil, err
		}
		forges = append(forges, f)
		warnUnsigned(log, cfg, cfg.GitLab.WebhookSecret, "GitLab", "merge request", "--gitlab-webhook-secret", false)
	}
	if len(forges) == 0 {
		log.Warn("no forge configured: every webhook will be refused; set --gh-token, --gh-app-id or --gitlab-token")
	}
	return forges, nil
}

// warnUnsigned says what becomes of a forge's webhooks without a secret:
// a server that polls the forge or reads its inbox refuses them all
// (they find what the webhooks would say), one that does not takes them
// unsigned, which anyone can send.
func warnUnsigned(log *slog.Logger, cfg Config, secret, forge, pull, flag string, inbox bool) {
	switch {
	case secret != "" || cfg.oneShot:
	case cfg.PollInterval > 0 || inbox:
		log.Info("webhooks from " + forge + " are refused: the server finds their events itself (polling, or the App's inbox), and takes webhooks only with " + flag)
	default:
		log.Warn("NO WEBHOOK SECRET: anyone who can reach this server can make it plan any open " + pull + "; set " + flag)
	}
}

// unsignedRefused names the forges whose webhooks a polling server
// refuses, for want of a secret to check them with.
func unsignedRefused(cfg Config) map[string]bool {
	polls := cfg.PollInterval > 0
	return map[string]bool{
		"github": (polls || cfg.inbox()) && cfg.GitHub.WebhookSecret == "",
		"gitlab": polls && cfg.GitLab.WebhookSecret == "",
	}
}

// inbox reports whether the server reads the GitHub App's delivery log:
// newForges makes a GitHub App a vcs.DeliveryLog.
func (c Config) inbox() bool { return c.InboxInterval > 0 && c.GitHub.AppID != 0 }

// secrets are the configured credentials, kept out of tool environments and
// output.
func secrets(cfg Config) []string {
	return []string{cfg.GitHub.Token, string(cfg.GitHub.AppKey), cfg.GitHub.WebhookSecret, cfg.GitLab.Token, cfg.GitLab.WebhookSecret, cfg.Redis.Password, cfg.Web.Password, cfg.APISecret}
}
