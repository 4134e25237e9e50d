package smtpd

import (
	"log/slog"
	"strings"
	"testing"

	"sigill/internal/testenv"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A password typed into the login field must not reach the log.
func TestFailedAuthLogsNoPassword(t *testing.T) {
	var log testenv.SyncBuffer
	g := startGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	const typo = "Sommar2026!"
	_, err := submit(t, g.submission, sasl.NewPlainClient("", typo, typo), staff, []string{goodRcpt}, "")
	wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8}, "wrong login or password")
	if out := log.String(); strings.Contains(out, typo) || !strings.Contains(out, "auth failed") {
		t.Errorf("log:\n%s", out)
	}
}
