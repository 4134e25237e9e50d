package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"sigill/config/configtest"
)

type readyAnswer struct {
	status int
	readyReport
}

func getReadyz(t *testing.T, admin string) readyAnswer {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a readyAnswer
	a.status = resp.StatusCode
	if err := json.NewDecoder(resp.Body).Decode(&a.readyReport); err != nil {
		t.Fatalf("/readyz: %s, not JSON: %v", resp.Status, err)
	}
	return a
}

// /readyz checks what serve depends on — the store, BankID (here the
// simulator, over its mutual TLS), the SMS provider and the smarthost — and
// with the smarthost's port closed answers 503 naming the smarthost alone;
// once the smarthost answers, 200. /healthz stays 200 throughout: the
// process is alive.
func TestReadyzNamesTheDeadDependency(t *testing.T) {
	sim := startBankIDSimulator(t)
	server, err := tls.LoadX509KeyPair(filepath.Join(sim.dir, "server.pem"), filepath.Join(sim.dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	elks := httptest.NewUnstartedServer(&fakeElks{})
	elks.TLS = &tls.Config{Certificates: []tls.Certificate{server}}
	elks.StartTLS()
	defer elks.Close()
	smarthost := freePort(t)

	path, ports := servedConfig(t)
	text, _ := os.ReadFile(path)
	conf := string(text)
	bankidAt, readerAt := strings.Index(conf, "[bankid]"), strings.Index(conf, "[reader]")
	conf = conf[:bankidAt] + sim.bankIDBlock() + "user_visible_text = \"Logga in\"\n\n" + conf[readerAt:]
	for from, to := range map[string]string{
		`url = "https://api.46elks.com/a1/sms"`: `url = "` + elks.URL + `/a1/sms"`,
		`smarthost = "mail.example.se:587"`:     `smarthost = "` + smarthost + `"`,
	} {
		if !strings.Contains(conf, from) {
			t.Fatalf("the example has no %q", from)
		}
		conf = strings.Replace(conf, from, to, 1)
	}
	configtest.Write(t, path, []byte(conf))
	if _, stderr, code := run(t, "", "check-config", "-config", path); code != 0 {
		t.Fatalf("check-config: %s", stderr)
	}
	// The simulator's CA vouches for the fake 46elks and the smarthost.
	admin := ports["127.0.0.1:9090"]
	log := startServe(t, path, admin, "SSL_CERT_FILE="+filepath.Join(sim.dir, "ca.pem"))

	a := getReadyz(t, admin)
	var names []string
	for _, c := range a.Checks {
		names = append(names, c.Name)
	}
	if a.status != http.StatusServiceUnavailable || a.Ready || !slices.Equal(a.Failed, []string{"smarthost"}) ||
		!slices.Equal(names, []string{"bankid", "smarthost", "sms", "store"}) {
		t.Fatalf("with the smarthost down: %d %+v\n%s", a.status, a.readyReport, log.String())
	}
	for _, c := range a.Checks {
		if c.Name == "smarthost" && !strings.Contains(c.Error, smarthost) {
			t.Errorf("the smarthost's error does not say where: %q", c.Error)
		}
	}
	// Scrapes within a few seconds share one round of checks.
	if again := getReadyz(t, admin); !again.CheckedAt.Equal(a.CheckedAt) {
		t.Errorf("a second scrape checked again (%v, then %v)", a.CheckedAt, again.CheckedAt)
	}
	if resp, err := http.Get("http://" + admin + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with the smarthost down: %v %v", resp.Status, err)
	}

	ln, err := net.Listen("tcp", smarthost)
	if err != nil {
		t.Fatal(err)
	}
	mta := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return refusingSession{}, nil }))
	mta.Domain = "127.0.0.1"
	mta.TLSConfig = &tls.Config{Certificates: []tls.Certificate{server}}
	go mta.Serve(ln)
	defer mta.Close()
	deadline := time.Now().Add(30 * time.Second)
	for a = getReadyz(t, admin); a.status != http.StatusOK; a = getReadyz(t, admin) {
		if time.Now().After(deadline) {
			t.Fatalf("still not ready 30 s after the smarthost came up: %d %+v", a.status, a.readyReport)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !a.Ready || len(a.Failed) != 0 {
		t.Errorf("200 but %+v", a.readyReport)
	}
}

// refusingSession is a smarthost that greets and takes no mail.
type refusingSession struct{}

func (refusingSession) Mail(string, *smtp.MailOptions) error { return errors.New("no mail here") }
func (refusingSession) Rcpt(string, *smtp.RcptOptions) error { return errors.New("no mail here") }
func (refusingSession) Data(io.Reader) error                 { return errors.New("no mail here") }
func (refusingSession) Reset()                               {}
func (refusingSession) Logout() error                        { return nil }
