package notifier

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The readiness checks reach each provider and send nothing.
func TestChecksReachWithoutSending(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	elks := newFakeElks(t)
	if err := elks.provider(t).Check(ctx); err != nil {
		t.Errorf("46elks reachable: %v", err)
	}
	if len(elks.sent()) != 0 || elks.refusedCount() != 0 {
		t.Errorf("the check sent %d SMS, refused %d", len(elks.sent()), elks.refusedCount())
	}
	dead := closedAddr(t)
	gone, err := NewElks(ElksOptions{URL: "http://" + dead + "/a1/sms", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Check(ctx); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("46elks on a closed port: %v", err)
	}

	host := newSmarthost(t, true)
	if err := mustSMTPSender(t, host.options()).Check(ctx); err != nil {
		t.Errorf("smarthost reachable: %v", err)
	}
	if got := host.received(); len(got) != 0 {
		t.Errorf("the check sent %d mails", len(got))
	}
	o := host.options()
	o.Addr = dead
	if err := mustSMTPSender(t, o).Check(ctx); err == nil || !strings.Contains(err.Error(), "smarthost "+dead) {
		t.Errorf("smarthost on a closed port: %v", err)
	}
	plain := newSmarthost(t, false)
	if err := mustSMTPSender(t, plain.options()).Check(ctx); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("a smarthost without STARTTLS passed the check: %v", err)
	}
}
