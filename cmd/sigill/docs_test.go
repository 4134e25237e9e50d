package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README and docs/ stay true to the tree: every relative link leads to
// a file, and every test they cite as holding a behaviour exists.
func TestDocsPointAtWhatExists(t *testing.T) {
	const root = "../.."
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	if len(docs) < 4 {
		t.Fatalf("docs: %v", docs)
	}
	var tests strings.Builder
	filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, "_test.go") {
			b, _ := os.ReadFile(path)
			tests.Write(b)
		}
		return nil
	})
	link := regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
	cited := regexp.MustCompile(`\bTest[A-Z]\w+`)
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), m[1])); err != nil {
				t.Errorf("%s links to %s, which is not there", doc, m[1])
			}
		}
		for _, name := range cited.FindAllString(string(text), -1) {
			if !strings.Contains(tests.String(), "func "+name+"(") {
				t.Errorf("%s cites %s, which no test file has", doc, name)
			}
		}
		if strings.Contains(string(text), "../shared") {
			t.Errorf("%s points at ../shared, which a clone does not have", doc)
		}
	}
}
