package smtpd

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A password typed into the login field must not reach the log.
func TestFailedAuthLogsNoPassword(t *testing.T) {
	var log lockedBuffer
	g := startGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	const typo = "Sommar2026!"
	_, err := submit(t, g.submission, sasl.NewPlainClient("", typo, typo), staff, []string{goodRcpt}, "")
	wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8}, "wrong login or password")
	if out := log.String(); strings.Contains(out, typo) || !strings.Contains(out, "auth failed") {
		t.Errorf("log:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
