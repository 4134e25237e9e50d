package readerweb

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// Outlook's winmail.dat is unpacked: the reader lists and downloads the
// files inside, not the opaque container.
func TestWinmailDatUnpacked(t *testing.T) {
	lb, err := parseLetter(sample(t, "outlook-winmail-dat.eml"), "/m/x")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range lb.Attachments {
		got = append(got, lb.Parts[i].Name+" "+lb.Parts[i].MediaType)
		if lb.Parts[i].Unreadable {
			t.Errorf("%s marked unreadable", lb.Parts[i].Name)
		}
	}
	if want := "zappa_av1.jpg image/jpeg,bookmark.htm text/html"; strings.Join(got, ",") != want {
		t.Errorf("attachments %q, want %q", got, want)
	}
	if !strings.Contains(lb.Text, "Bilderna och länken") {
		t.Errorf("text %q", lb.Text)
	}
}

func TestWinmailDatOnPage(t *testing.T) {
	t.Parallel()
	b, token := openedByReader(t, "Bilagor", sample(t, "outlook-winmail-dat.eml"))
	page := b.get("/m/" + token).body
	if strings.Contains(page, "winmail.dat") || !strings.Contains(page, ">zappa_av1.jpg</a>") || !strings.Contains(page, ">bookmark.htm</a>") {
		t.Fatalf("the page does not list the files inside winmail.dat:\n%s", page)
	}
	var lj letterJSON
	mustJSON(t, b.get("/m/"+token+"/message.json").body, &lj)
	if len(lj.Attachments) != 2 {
		t.Fatalf("message.json attachments %+v", lj.Attachments)
	}
	jpg := b.get(lj.Attachments[0].URL)
	if jpg.status != http.StatusOK || jpg.header.Get("Content-Type") != "image/jpeg" || len(jpg.body) != 2937 ||
		!bytes.HasPrefix([]byte(jpg.body), []byte{0xff, 0xd8, 0xff}) || !strings.Contains(jpg.header.Get("Content-Disposition"), `filename=zappa_av1.jpg`) {
		t.Errorf("zappa_av1.jpg: %d %v, %d bytes", jpg.status, jpg.header, len(jpg.body))
	}
	// HTML from inside a winmail.dat is a download, like any HTML attachment.
	if htm := b.get(lj.Attachments[1].URL); htm.header.Get("Content-Type") != "application/octet-stream" || len(htm.body) != 85805 {
		t.Errorf("bookmark.htm: %v, %d bytes", htm.header, len(htm.body))
	}
}

// A winmail.dat that cannot be unpacked is listed as it is, with a note
// that says what it is.
func TestWinmailDatUnreadable(t *testing.T) {
	t.Parallel()
	raw := "From: <dev@staff.test>\r\nSubject: Bilaga\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej!\r\n" +
		"--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"winmail.dat\"\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("\x78\x9f\x3e\x22\x01\x00\x02\x0f\x80\x06\x00\xff\xff\xff\x00")) + "\r\n--b--\r\n"
	b, token := openedByReader(t, "Bilaga", []byte(raw))
	for lang, note := range map[string]string{"sv": "gick inte att packa upp", "en": "could not be unpacked"} {
		page := b.get("/m/" + token + "?lang=" + lang).body
		if !strings.Contains(page, ">winmail.dat</a>") || !strings.Contains(page, note) {
			t.Errorf("%s: the unreadable winmail.dat is not listed with its note:\n%s", lang, page)
		}
	}
}

// openedByReader accepts raw for a recipient allowed to pnA and opens it as
// that person: the browser holds the grant.
func openedByReader(t *testing.T, errand string, raw []byte) (*browser, string) {
	t.Helper()
	e := newEnv(t)
	_, token := e.accept(errand, raw, recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	return b, token
}
