package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"sigill/config"
)

// An Outlook message whose attachments travel in a winmail.dat, sent over
// SMTP to the dev gateway: the reader lists and serves the files inside it.
func TestWinmailDatReachesTheReaderUnpacked(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/mail/outlook-winmail-dat.eml")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	d := startDev(t, data)
	id, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, devRcpt, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	note := waitForNotification(t, data, id)
	web, _ := signInByLink(t, d, note.Link, "199908072391")

	var opened struct {
		Text        string
		Attachments []struct {
			Name string
			Size int
			URL  string
		}
	}
	getJSON(t, web, "GET", note.Link+"/message.json", &opened)
	var names []string
	for _, a := range opened.Attachments {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "zappa_av1.jpg,bookmark.htm" || !strings.Contains(opened.Text, "Bilderna och länken") {
		t.Fatalf("message.json lists %q (want the files inside winmail.dat), text %q", names, opened.Text)
	}
	link, err := url.Parse(note.Link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := web.Get(link.ResolveReference(&url.URL{Path: opened.Attachments[0].URL}).String())
	if err != nil {
		t.Fatal(err)
	}
	jpg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || len(jpg) != 2937 {
		t.Errorf("zappa_av1.jpg: %s %v, %d bytes", resp.Status, resp.Header, len(jpg))
	}
	resp, err = web.Get(note.Link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), ">zappa_av1.jpg</a>") || !strings.Contains(string(page), ">bookmark.htm</a>") || strings.Contains(string(page), "winmail.dat") {
		t.Errorf("the page does not list the files inside winmail.dat:\n%s", page)
	}
}
