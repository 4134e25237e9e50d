package readerweb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // bodies in ISO-8859-1, Windows-1252, ... as Outlook writes them
	"github.com/emersion/go-message/mail"
	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"

	"golang.org/x/net/html/atom"
	"sigill/internal/tnef"
)

// letterBody is a decrypted message as the reader sees it.
type letterBody struct {
	From        string // the From header as written (name and address), unverified
	FromAddress string // its (first) address
	Text        string
	HTML        string // sanitised; cid: images point at /m/<token>/cid/<n>
	Parts       []mimePart
	Attachments []int // indexes into Parts, in message order
}

// mimePart is one leaf of the MIME tree.
type mimePart struct {
	MediaType   string // lower case
	Disposition string // lower case, "" when none
	Name        string // file name, safe to show and to put in a header
	ContentID   string // without <>
	Flowed      bool   // text/plain; format=flowed
	DelSp       bool   // and delsp=yes
	Body        []byte // transfer encoding removed; text/* in UTF-8
	// Unreadable marks a winmail.dat that is listed as it is because it
	// could not be unpacked wholly (see unpackTNEF); the page says so.
	Unreadable bool
}

// maxParts bounds the leaves read from one message.
const maxParts = 500

// parseLetter reads the original message and prepares what the page shows.
// base is /m/<token>, the prefix of the URLs of inline images and attachments.
func parseLetter(raw []byte, base string) (*letterBody, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("reading message: %w", err)
	}
	lb := &letterBody{}
	lb.From, lb.FromAddress = fromHeader(e.Header)
	werr := e.Walk(func(_ []int, ent *message.Entity, err error) error {
		if ent == nil || ent.MultipartReader() != nil {
			return nil
		}
		if len(lb.Parts) >= maxParts {
			return errTooManyParts
		}
		lb.Parts = append(lb.Parts, readPart(ent, len(lb.Parts)))
		return nil
	})
	if werr != nil && !errors.Is(werr, errTooManyParts) && len(lb.Parts) == 0 {
		return nil, fmt.Errorf("reading message parts: %w", werr)
	}
	// A broken tail of a multipart message loses only the parts after it.
	unpacked := unpackTNEF(lb)

	textPart, htmlPart := -1, -1
	for i, p := range lb.Parts {
		if p.Disposition == "attachment" {
			continue
		}
		switch {
		case p.MediaType == "text/plain" && textPart < 0:
			textPart = i
		case p.MediaType == "text/html" && htmlPart < 0:
			htmlPart = i
		}
	}
	if textPart >= 0 {
		lb.Text = plainText(lb.Parts[textPart])
	}
	used := map[int]bool{}
	if htmlPart >= 0 {
		lb.HTML = sanitizeHTML(string(lb.Parts[htmlPart].Body), func(cid string) (string, bool) {
			for i, p := range lb.Parts {
				if p.ContentID != "" && p.ContentID == cid && inlineImage(p.MediaType) {
					used[i] = true
					return base + "/cid/" + strconv.Itoa(i), true
				}
			}
			return "", false
		})
	}
	for i := range lb.Parts {
		if i == textPart || i == htmlPart || used[i] || unpacked.child[i] {
			continue
		}
		if files, ok := unpacked.files[i]; ok {
			// The files of a winmail.dat stand where it stood.
			lb.Attachments = append(lb.Attachments, files...)
			if !lb.Parts[i].Unreadable {
				continue
			}
		}
		lb.Attachments = append(lb.Attachments, i)
	}
	return lb, nil
}

// tnefFiles records what unpackTNEF added: the parts (indexes into
// letterBody.Parts) unpacked from each winmail.dat, by its own index.
type tnefFiles struct {
	files map[int][]int
	child map[int]bool
}

// unpackTNEF appends the files inside each winmail.dat (application/
// ms-tnef) of the message to lb.Parts as attachments of their own, so the
// reader sees and downloads them as the sender attached them in Outlook.
// The vault keeps the message as it was sent; unpacking happens here, at
// display, so that the sealed original (and an escrow export of it) stays
// byte for byte what the sender's client sent, and a better decoder
// applies to messages already stored. A winmail.dat that cannot be read
// wholly (malformed, or holding an embedded message, which is not
// unpacked) stays in the list too, marked Unreadable.
func unpackTNEF(lb *letterBody) tnefFiles {
	out := tnefFiles{files: map[int][]int{}, child: map[int]bool{}}
	for i, n := 0, len(lb.Parts); i < n; i++ {
		if !isTNEF(lb.Parts[i]) {
			continue
		}
		files, skipped, err := tnef.Attachments(lb.Parts[i].Body)
		if err != nil || skipped > 0 || len(files) == 0 {
			lb.Parts[i].Unreadable = true
		}
		for _, f := range files {
			if len(lb.Parts) >= maxParts {
				lb.Parts[i].Unreadable = true
				break
			}
			mt := f.MediaType
			if _, _, err := mime.ParseMediaType(mt); err != nil || !strings.Contains(mt, "/") {
				mt = ""
			}
			if mt == "" {
				mt = "application/octet-stream"
				if byExt := mime.TypeByExtension(path.Ext(f.Name)); byExt != "" {
					mt, _, _ = mime.ParseMediaType(byExt)
				}
			}
			j := len(lb.Parts)
			lb.Parts = append(lb.Parts, mimePart{
				MediaType: strings.ToLower(mt), Disposition: "attachment",
				Name: safeFileName(f.Name, mt, j), Body: f.Data,
			})
			out.files[i] = append(out.files[i], j)
			out.child[j] = true
		}
	}
	return out
}

// isTNEF tells a winmail.dat: by its type, or by its name when a client
// labelled it application/octet-stream.
func isTNEF(p mimePart) bool {
	switch p.MediaType {
	case tnef.MediaType, "application/vnd.ms-tnef":
		return true
	case "application/octet-stream":
		return strings.EqualFold(p.Name, "winmail.dat")
	}
	return false
}

var errTooManyParts = errors.New("too many parts")

func readPart(ent *message.Entity, index int) mimePart {
	mt, params, _ := ent.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	p := mimePart{MediaType: strings.ToLower(mt)}
	p.Flowed = strings.EqualFold(params["format"], "flowed")
	p.DelSp = strings.EqualFold(params["delsp"], "yes")
	if disp, _, err := ent.Header.ContentDisposition(); err == nil {
		p.Disposition = strings.ToLower(disp)
	}
	ah := mail.AttachmentHeader{Header: ent.Header}
	name, _ := ah.Filename()
	if name == "" {
		name = params["name"]
	}
	p.Name = safeFileName(name, p.MediaType, index)
	p.ContentID = strings.Trim(strings.TrimSpace(ent.Header.Get("Content-Id")), "<>")
	p.Body, _ = io.ReadAll(ent.Body) // a broken encoding leaves what was readable
	return p
}

// fromHeader is the From header as it reads, and its first address ("" when
// the header does not parse as addresses). A header of several addresses
// reads as all of them.
func fromHeader(h message.Header) (shown, address string) {
	mh := mail.Header{Header: h}
	if list, err := mh.AddressList("From"); err == nil && len(list) > 0 {
		var names []string
		for _, a := range list {
			if a.Name != "" {
				names = append(names, a.Name+" <"+a.Address+">")
			} else {
				names = append(names, a.Address)
			}
		}
		if len(list) > 1 {
			return strings.Join(names, ", "), "" // never the vouched sender alone
		}
		return names[0], list[0].Address
	}
	if s, err := h.Text("From"); err == nil {
		return s, ""
	}
	return "", ""
}

// safeFileName makes a name for a download: no path, no control characters,
// at most 150 characters; a made-up one when the part has none.
func safeFileName(name, mediaType string, index int) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.Trim(name, "."))
	if r := []rune(name); len(r) > 150 {
		name = string(r[:150])
	}
	if name == "" {
		name = "bilaga-" + strconv.Itoa(index+1)
		if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
			name += exts[0]
		}
	}
	return name
}

// plainText is a text part as it should read: line ends normalised and,
// for format=flowed, soft-broken lines joined.
func plainText(p mimePart) string {
	s := strings.ReplaceAll(string(p.Body), "\r\n", "\n")
	if p.Flowed {
		s = unflow(s, p.DelSp)
	}
	return strings.TrimRight(s, " \n")
}

// unflow joins the soft-broken lines of a format=flowed text (RFC 3676): a
// line that ends in a space goes on with the next line of the same quote
// depth, unless it is the signature separator "-- "; space-stuffing is
// removed, and with delsp=yes so is the space of a soft break.
func unflow(s string, delsp bool) string {
	var (
		out   []string
		cur   strings.Builder
		depth = -1
		open  bool
	)
	flush := func() {
		prefix := ""
		if depth > 0 {
			prefix = strings.Repeat(">", depth) + " "
		}
		out = append(out, prefix+cur.String())
		cur.Reset()
		open = false
	}
	for _, line := range strings.Split(s, "\n") {
		d := 0
		for d < len(line) && line[d] == '>' {
			d++
		}
		content := strings.TrimPrefix(line[d:], " ")
		if open && d != depth {
			flush()
		}
		depth = d
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		open = true
		if !flowed {
			flush()
		}
	}
	if open {
		flush()
	}
	return strings.Join(out, "\n")
}

// inlineImage tells the image types shown inline from the message. SVG is
// not among them: it is a document that can carry script.
func inlineImage(mediaType string) bool {
	switch mediaType {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif":
		return true
	}
	return false
}

// downloadType is the Content-Type of an attachment download: the declared
// one, unless a browser could run it as a document.
func downloadType(mediaType string) string {
	if mediaType == "" || strings.ContainsAny(mediaType, " ;,\"") {
		return "application/octet-stream"
	}
	switch {
	case strings.Contains(mediaType, "html"),
		strings.Contains(mediaType, "xml"),
		strings.Contains(mediaType, "svg"),
		strings.Contains(mediaType, "javascript"),
		strings.Contains(mediaType, "ecmascript"),
		mediaType == "text/css":
		return "application/octet-stream"
	}
	return mediaType
}

// sanitizeHTML keeps what is safe to show of an HTML body: bluemonday's UGC
// policy (no script, style, form, iframe or event handler), links only to
// http, https, mailto and tel (opening in a new tab without a referrer), and
// images only from the message's own cid: parts, rewritten by cidURL. Every
// other image source is removed, so nothing is fetched from elsewhere: an
// image from elsewhere becomes a blocked-image placeholder (withBlockedNotes
// words it in the reader's language), and an image without a source (a cid:
// the message lacks) goes, so no empty <img> is left.
func sanitizeHTML(src string, cidURL func(cid string) (string, bool)) string {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("mailto", "http", "https", "tel", "cid")
	p.AllowRelativeURLs(false)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.RewriteSrc(func(u *url.URL) {
		if u.Scheme == "cid" {
			cid := u.Opaque
			if un, err := url.PathUnescape(cid); err == nil {
				cid = un
			}
			if path, ok := cidURL(cid); ok {
				*u = url.URL{Path: path}
				return
			}
			*u = url.URL{}
			return
		}
		*u = url.URL{Path: blockedSrc}
	})
	return strings.TrimSpace(replaceBlockedImages(p.Sanitize(src)))
}

// blockedSrc marks, between bluemonday and replaceBlockedImages, an image
// whose source was elsewhere. Every src passes through RewriteSrc, so a
// message cannot write it itself.
const blockedSrc = "/-sigill-blocked-image-"

// blockedOpen starts the placeholder of a blocked image in sanitised HTML;
// the image's alt text, if any, follows it as ": alt". bluemonday lets no
// data- attribute through, so a message cannot write one itself.
const blockedOpen = `<span class="blocked" data-sigill-blocked>`

// replaceBlockedImages rewrites bluemonday's output: an <img> with the
// blockedSrc mark becomes the placeholder, one left without a source is
// dropped, and everything else is copied as it is.
func replaceBlockedImages(sanitized string) string {
	var out strings.Builder
	z := html.NewTokenizer(strings.NewReader(sanitized))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out.String()
		}
		raw := string(z.Raw()) // before Token, which unescapes attribute values in place
		if tt == html.StartTagToken || tt == html.SelfClosingTagToken {
			if tok := z.Token(); tok.DataAtom == atom.Img {
				var src, alt string
				for _, a := range tok.Attr {
					switch a.Key {
					case "src":
						src = a.Val
					case "alt":
						alt = strings.TrimSpace(a.Val)
					}
				}
				switch src {
				case "":
					continue
				case blockedSrc:
					out.WriteString(blockedOpen)
					if alt != "" {
						out.WriteString(": " + html.EscapeString(alt))
					}
					out.WriteString("</span>")
					continue
				}
			}
		}
		out.WriteString(raw)
	}
}

// withBlockedNotes words the placeholders of blocked images in the reader's
// language: note is texts.ImageBlocked.
func withBlockedNotes(sanitized, note string) string {
	return strings.ReplaceAll(sanitized, blockedOpen, `<span class="blocked">`+html.EscapeString(note))
}
