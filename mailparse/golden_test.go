package mailparse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// Corpus locations, relative to this package (the project root is
// /work/main, shared files are in /work/shared).
const (
	corpusDir   = "../testdata/enmime"
	ownMailDir  = "../testdata/mail"
	goldenDir   = "testdata/golden"
	minCorpus   = 30
	minOwnMails = 20
)

type goldenFile struct {
	name string // golden file name without .json
	path string
}

// goldenInputs lists every .raw/.eml of the enmime corpus and every file of
// testdata/mail.
func goldenInputs(t testing.TB) (corpus, own []goldenFile) {
	t.Helper()
	err := filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".raw") || strings.HasSuffix(p, ".eml")) {
			return nil
		}
		rel, _ := filepath.Rel(corpusDir, p)
		name := "enmime-" + strings.ReplaceAll(strings.TrimSuffix(rel, filepath.Ext(rel)), string(filepath.Separator), "-")
		corpus = append(corpus, goldenFile{name, p})
		return nil
	})
	if err != nil {
		t.Fatalf("walk corpus %s: %v", corpusDir, err)
	}
	entries, err := os.ReadDir(ownMailDir)
	if err != nil {
		t.Fatalf("read %s: %v", ownMailDir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		own = append(own, goldenFile{"mail-" + strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())), filepath.Join(ownMailDir, e.Name())})
	}
	return corpus, own
}

// goldenView adds the attachment fields hidden from the explain JSON.
type goldenView struct {
	*Message
	Attachments []goldenAttachment `json:"attachments"`
}

type goldenAttachment struct {
	Attachment
	Inline  bool `json:"inline"`
	Winmail bool `json:"winmail"`
}

func goldenJSON(t *testing.T, m *Message) []byte {
	t.Helper()
	v := goldenView{Message: m}
	for _, a := range m.Attachments {
		v.Attachments = append(v.Attachments, goldenAttachment{a, a.Inline, a.Winmail})
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return append(b, '\n')
}

func TestGolden(t *testing.T) {
	corpus, own := goldenInputs(t)
	if len(corpus) < minCorpus {
		t.Fatalf("corpus has %d files, want at least %d", len(corpus), minCorpus)
	}
	if len(own) < minOwnMails {
		t.Fatalf("testdata/mail has %d files, want at least %d", len(own), minOwnMails)
	}
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, f := range append(corpus, own...) {
		seen[f.name+".json"] = true
		t.Run(f.name, func(t *testing.T) {
			fh, err := os.Open(f.path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			m, err := testParser(t, nil).Parse(fh)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := goldenJSON(t, m)
			gp := filepath.Join(goldenDir, f.name+".json")
			if *update {
				if err := os.WriteFile(gp, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("read golden (run go test ./mailparse -run TestGolden -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from golden %s; got:\n%s", f.path, gp, got)
			}
		})
	}
	// Every golden file must belong to an input (no stale pins).
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, e := range entries {
		if !seen[e.Name()] {
			stale = append(stale, e.Name())
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("golden files without an input: %v", stale)
	}
}

// TestGoldenOneParser parses every golden input with one Parser from four
// goroutines, twice over: the buffers a Parser reuses from one message to
// the next change no result (and, under -race, are never shared).
func TestGoldenOneParser(t *testing.T) {
	corpus, own := goldenInputs(t)
	files := append(corpus, own...)
	p := testParser(t, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2 * len(files) {
				f := files[(i+g*31)%len(files)]
				data, err := os.ReadFile(f.path)
				if err != nil {
					t.Error(err)
					return
				}
				m, err := p.Parse(bytes.NewReader(data))
				want, _ := os.ReadFile(filepath.Join(goldenDir, f.name+".json"))
				if got := goldenJSON(t, m); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s with a shared Parser (error %v):\n%s", f.name, err, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzParse(f *testing.F) {
	corpus, own := goldenInputs(f)
	for _, g := range append(corpus, own...) {
		b, err := os.ReadFile(g.path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Subject: =?utf-8?q?x=0D=0ABcc:_a@b?=\r\n\r\nhi"))
	f.Add([]byte{})
	opts := &Options{Limits: Limits{MaxMessageBytes: 1 << 20, MaxParts: 50, MaxDepth: 8, MaxTextBytes: 64 << 10, MaxHeaderBytes: 64 << 10}}
	p := testParser(f, opts)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := p.Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Parse returned an error for in-memory input: %v", err)
		}
		if m == nil {
			t.Fatal("nil Message")
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("subject contains CR/LF: %q", m.Subject)
		}
		if m.Problems == nil {
			t.Fatal("nil Problems")
		}
		if m.From != nil && strings.ContainsAny(m.From.Name+m.From.Addr, "\r\n") {
			t.Fatalf("From contains CR/LF: %+v", m.From)
		}
		if len(m.Text) > opts.Limits.MaxTextBytes {
			t.Fatalf("text is %d bytes, limit %d", len(m.Text), opts.Limits.MaxTextBytes)
		}
		if m.Size > int64(len(data)) {
			t.Fatalf("Size %d > input %d", m.Size, len(data))
		}
	})
}
