package notifier

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Checks are the readiness checks of what the notifier sends through, by
// name: "sms" (the SMS provider's API) and "smarthost" (notifier.email).
// Each reaches its server and sends nothing. A provider with nothing to
// reach (the log provider of sigill dev) has no check.
func (n *Notifier) Checks() map[string]func(context.Context) error {
	checks := map[string]func(context.Context) error{}
	if c, ok := capability[Checker](n.sms); ok {
		checks["sms"] = c.Check
	}
	if c, ok := capability[Checker](n.mail); ok {
		checks["smarthost"] = c.Check
	}
	return checks
}

// Check asks 46elks's API with a HEAD request and no credentials: any HTTP
// answer means its server is reachable and its certificate trusted.
func (e *Elks) Check(ctx context.Context) error { return reachable(ctx, e.client, e.url, e.Name()) }

// Check asks the webhook's URL with a HEAD request, unsigned: any HTTP
// answer means its server is reachable and its certificate trusted.
func (w *Webhook) Check(ctx context.Context) error { return reachable(ctx, w.client, w.url, w.Name()) }

func reachable(ctx context.Context, client *http.Client, url, provider string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", provider, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", provider, err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
