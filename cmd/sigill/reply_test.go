package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"sigill/config/configtest"
	"sigill/internal/testenv"
)

// smarthost is a fake smarthost (STARTTLS, no AUTH) that keeps every mail.
type smarthost struct {
	mu    sync.Mutex
	mails []smarthostMail
}

type smarthostMail struct {
	to   []string
	data []byte
}

func (h *smarthost) NewSession(*smtp.Conn) (smtp.Session, error) { return &smarthostSession{h: h}, nil }

type smarthostSession struct {
	h  *smarthost
	to []string
}

func (s *smarthostSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smarthostSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smarthostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	s.h.mails = append(s.h.mails, smarthostMail{to: s.to, data: b})
	s.h.mu.Unlock()
	return nil
}
func (s *smarthostSession) Reset()        { s.to = nil }
func (s *smarthostSession) Logout() error { return nil }

// waitFor returns the mails that carry header (to each of its recipients)
// once there are n of them.
func (h *smarthost) waitFor(t *testing.T, header string, n int) map[string][]byte {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out := map[string][]byte{}
		h.mu.Lock()
		for _, m := range h.mails {
			if bytes.Contains(m.data, []byte("\r\n"+header+":")) {
				for _, to := range m.to {
					out[to] = m.data
				}
			}
		}
		h.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the smarthost has %d mails with %s within 20 s; want %d", len(out), header, n)
		}
	}
}

// replyPost is the reader's form post of an answer with one file, by
// Python's urllib over HTTPS (the certificate checked against the CA), as
// a browser's form would send it; it follows the 303 and prints the final
// status and whether the page lists the answer, or the refusal's status
// and page.
const replyPost = `
import ssl, sys, urllib.request, urllib.error
link, cookie, ca, text = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
b = "sigillreplyboundary7"
body = ("--%s\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n%s\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"remiss.txt\"\r\nContent-Type: text/plain\r\n\r\nremissens text\r\n"
        "--%s--\r\n") % (b, text, b, b)
req = urllib.request.Request(link + "/reply?lang=sv", data=body.encode("utf-8"), method="POST",
                             headers={"Content-Type": "multipart/form-data; boundary=" + b, "Cookie": cookie})
try:
    with urllib.request.urlopen(req, context=ctx) as r:
        page = r.read().decode("utf-8")
        print(r.status, "listed" if "Dina svar" in page and text in page and "remiss.txt" in page else "not listed")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode("utf-8"))
`

// The reply through the built binary: sigill serve from the example
// configuration (every listener on TLS with the BankID simulator's
// certificate), a message relayed to two recipients, one with reply=no;
// each link opened through the simulator; an answer with a file posted by
// Python's urllib; the answer reaches the fake smarthost for the sender
// and for organisation.reply_copy, threaded (In-Reply-To the sent
// Message-ID), From the gateway's address with the person named and
// masked, the text in it; it is in the sender's IMAP INBOX naming the
// person; the reply=no link's page has no box and its POST gets 403 with
// the reason. serve's log holds neither the answer nor the whole number.
func TestReplyThroughServe(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	sim := startBankIDSimulator(t)
	pair, err := tls.LoadX509KeyPair(filepath.Join(sim.dir, "server.pem"), filepath.Join(sim.dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(sim.dir, "ca.pem")
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	elks := &fakeElks{}
	elksServer := httptest.NewUnstartedServer(elks)
	elksServer.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	elksServer.StartTLS()
	defer elksServer.Close()

	mta := &smarthost{}
	mtaAddr := freePort(t)
	ln, err := net.Listen("tcp", mtaAddr)
	if err != nil {
		t.Fatal(err)
	}
	mtaServer := smtp.NewServer(mta)
	mtaServer.Domain = "127.0.0.1"
	mtaServer.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	go mtaServer.Serve(ln)
	defer mtaServer.Close()

	path, ports := serveConfig(t, func(dir string, ports map[string]string) map[string]string {
		return map[string]string{
			`url = "https://api.46elks.com/a1/sms"`: `url = "` + elksServer.URL + `/a1/sms"`,
			`link_base = "https://read.example.se"`: `link_base = "https://` + ports["0.0.0.0:443"] + `"`,
			`smarthost = "mail.example.se:587"`:     `smarthost = "` + mtaAddr + `"`,
			`reply_copy = ""`:                       `reply_copy = "kansli@example.se"`,
		}
	})
	text, _ := os.ReadFile(path)
	conf := string(text)
	bankidAt, readerAt := strings.Index(conf, "[bankid]"), strings.Index(conf, "[reader]")
	conf = conf[:bankidAt] + sim.bankIDBlock() + "user_visible_text = \"Logga in\"\n\n" + conf[readerAt:]
	configtest.Write(t, path, []byte(conf))
	// Every listener with the simulator's pair for 127.0.0.1, under its CA.
	dir := filepath.Dir(path)
	configtest.Write(t, filepath.Join(dir, "tls/fullchain.pem"), caPEMOf(t, sim, "server.pem"))
	configtest.Write(t, filepath.Join(dir, "tls/privkey.pem"), caPEMOf(t, sim, "server.key"))
	log := startServe(t, path, ports["127.0.0.1:9090"], "SSL_CERT_FILE="+caFile)

	// The CLI reaches the running serve through admin.json, written beside
	// the vault once the admin listener serves.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(filepath.Join(dir, "admin.json")); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve wrote no admin.json beside the vault:\n%s", log.String())
		}
	}
	const staff, password = "anna@example.se", "a long staff password"
	if _, stderr, code := run(t, password+"\n", "user", "-config", path, "add", staff); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	appPassword := createAppPassword(t, "-config", path, staff)

	// Through the relay: one message, two recipients, the second reply=no.
	c, err := smtp.Dial(ports["0.0.0.0:25"])
	if err != nil {
		t.Fatal(err)
	}
	const open, closed = "0701234567&login=199908072391&@secure.example.se", "0701234568&login=199908072391&reply=no&@secure.example.se"
	if err := c.Mail(staff, nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{open, closed} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatalf("RCPT %s: %v", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: <"+staff+">\r\nSubject: Kallelse\r\nMessage-ID: <reply-e2e@example.se>\r\n\r\nVälkommen på tisdag.\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	c.Close()
	links := map[string]string{}
	linkRE := regexp.MustCompile(`https://\S+/m/[A-Za-z0-9_-]+`)
	for deadline := time.Now().Add(15 * time.Second); len(links) < 2; time.Sleep(50 * time.Millisecond) {
		elks.mu.Lock()
		for _, sms := range elks.sent {
			links[sms.Get("to")] = linkRE.FindString(sms.Get("message"))
		}
		elks.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("SMS at the fake 46elks: %v", links)
		}
	}

	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	approve := "http://" + sim.phone + "/dev/bankid/approve"
	post := func(link, answer string) string {
		t.Helper()
		if _, status := signInWith(t, web, link, approve, "199908072391"); status != "complete" {
			t.Fatalf("BankID status %q", status)
		}
		u, _ := url.Parse(link)
		var cookie string
		for _, ck := range jar.Cookies(u) {
			cookie = ck.Name + "=" + ck.Value
		}
		out, err := exec.Command(python, "-c", replyPost, link, cookie, caFile, answer).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const answer = "Tack! Jag kommer på tisdag kl 10."
	if got := post(links["+46701234567"], answer); got != "200 listed" {
		t.Errorf("the answer's POST: %s", got)
	}
	got := post(links["+46701234568"], "Hej")
	if !strings.HasPrefix(got, "403 ") || !strings.Contains(got, "Avsändaren har stängt av svar") {
		t.Errorf("the answer's POST to reply=no: %.400s", got)
	}
	resp, err := web.Get(links["+46701234568"])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), `name="text"`) || !strings.Contains(string(page), "tar inte emot svar") {
		t.Errorf("the reply=no page offers a box, or does not say why")
	}

	// At the smarthost: one for the sender, one for the functional mailbox.
	mails := mta.waitFor(t, "X-Sigill-Reply", 2)
	for _, to := range []string{staff, "kansli@example.se"} {
		raw := mails[to]
		if raw == nil {
			t.Errorf("no reply mailed to %s (mailed: %d)", to, len(mails))
			continue
		}
		checkReplyMail(t, to, raw, answer)
	}

	// In the sender's INBOX, naming the person.
	imapc, err := imapclient.DialTLS(ports["0.0.0.0:993"], &imapclient.Options{TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	defer imapc.Close()
	if err := imapc.Login(staff, appPassword).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	var inbox []byte
	for deadline := time.Now().Add(20 * time.Second); inbox == nil; time.Sleep(200 * time.Millisecond) {
		box, err := imapc.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if box.NumMessages > 0 {
			var all imap.SeqSet
			all.AddRange(1, box.NumMessages)
			msgs, err := imapc.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if b := m.BodySection[0].Bytes; bytes.Contains(b, []byte("X-Sigill-Reply:")) {
					inbox = b
				}
			}
		}
		if inbox == nil && time.Now().After(deadline) {
			t.Fatal("no reply in INBOX within 20 s")
		}
	}
	checkReplyMail(t, "IMAP", inbox, answer)

	for _, secret := range []string{"Jag kommer på tisdag", "199908072391", "remissens text"} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("serve's log holds %q", secret)
		}
	}
	if !strings.Contains(log.String(), `"reader: replied"`) {
		t.Errorf("serve's log does not record the reply")
	}
}

// caPEMOf reads one of the simulator's files.
func caPEMOf(t *testing.T, sim *bankIDSimulator, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sim.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkReplyMail checks a reply's mail as a mail client reads it.
func checkReplyMail(t *testing.T, where string, raw []byte, answer string) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: the reply does not parse: %v", where, err)
	}
	from, _ := r.Header.AddressList("From")
	if len(from) != 1 || from[0].Address != "noreply@secure.example.se" || from[0].Name != "Anna Andersson 19990807-**** via Region Exempel" {
		t.Errorf("%s: From %v", where, from)
	}
	if got := r.Header.Get("In-Reply-To"); got != "<reply-e2e@example.se>" {
		t.Errorf("%s: In-Reply-To %q", where, got)
	}
	var text, file string
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			text += string(b)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			file = name + ": " + string(b)
		}
	}
	if !strings.Contains(text, answer) || !strings.Contains(text, "Anna Andersson 19990807-**** svarade") {
		t.Errorf("%s: the text:\n%s", where, text)
	}
	if file != "remiss.txt: remissens text" {
		t.Errorf("%s: the file %q", where, file)
	}
}
