package mailparse

import (
	"maps"
	"math/rand/v2"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The cheap pre-checks in front of regular expressions must never reject a
// string the expression matches.

// maxSuffixes bounds the suffixes of a fuzzed string checked one by one
// (each check scans the suffix: quadratic in the string's length).
const maxSuffixes = 64

func checkPrechecks(t *testing.T, s string) {
	t.Helper()
	lt := asciiLower(s)
	if stepsPrecheck(lt) != (strings.Contains(lt, "step") || strings.Contains(lt, "repro") || strings.Contains(lt, "replicat")) {
		t.Errorf("%q: stepsPrecheck %v", lt, stepsPrecheck(lt))
	}
	if hasFieldSeparator(s) != strings.ContainsAny(s, ":-–=") {
		t.Errorf("%q: hasFieldSeparator %v", s, hasFieldSeparator(s))
	}
	if fieldLineRe.MatchString(lt) && !mayBeFieldLine(lt) {
		t.Errorf("%q: fieldLineRe matches, mayBeFieldLine says no", lt)
	}
	if stepsPhraseRe.MatchString(lt) && !stepsPrecheck(lt) {
		t.Errorf("%q: stepsPhraseRe matches, pre-check says no", lt)
	}
	if osBeforeBuildRe.MatchString(lt) && !osBeforeBuildPrecheck(lt) {
		t.Errorf("%q: osBeforeBuildRe matches, pre-check says no", lt)
	}
	if bulletRe.MatchString(lt) && lt[0] >= 0x80 && !strings.HasPrefix(lt, "•") && !strings.HasPrefix(lt, "·") {
		t.Errorf("%q: bulletRe matches a non-ASCII start other than the two bullets", lt)
	}
	if numberedRe.MatchString(lt) && lt[0] == 's' && !strings.HasPrefix(lt, "step") {
		t.Errorf("%q: numberedRe matches a line starting with 's' but not \"step\"", lt)
	}
	// Only the suffixes past the last digit hold none.
	for _, re := range []*regexp.Regexp{buildRe, winOSRe, winDeskRe, serverOSRe, versionAfterRe, ieRe} {
		for i := strings.LastIndexAny(lt, "0123456789") + 1; i < len(lt) && i < maxSuffixes; i++ {
			if re.MatchString(lt[i:]) && !hasDigit(lt[i:]) {
				t.Errorf("%q: %v matches without a digit", lt[i:], re)
			}
		}
	}
	if mt, params, ok := parseMediaTypeSimple(s); ok {
		wmt, wparams, err := mime.ParseMediaType(s)
		if err != nil || mt != wmt || !maps.Equal(params, wparams) {
			t.Errorf("%q: parseMediaTypeSimple %q %q, mime %q %q %v", s, mt, params, wmt, wparams, err)
		}
	}
	for _, limit := range []int{-1, 0, len(lt) / 2} {
		gv, gat := findIE(lt, limit)
		wv, wat := findIEByName(lt, limit)
		if gv != wv || gat != wat {
			t.Errorf("%q: findIE(%d) = %q at %d, by name %q at %d", lt, limit, gv, gat, wv, wat)
		}
	}
	for _, a := range testAnchors() {
		for i := 0; i <= len(lt) && i < maxSuffixes; i++ {
			if got, want := a.index(lt[i:]), strings.Index(lt[i:], a.s); got != want {
				t.Errorf("%q: anchor %q (rare byte %d) index %d, strings.Index %d", lt[i:], a.s, a.rare, got, want)
			}
		}
	}
}

// findIEByName is findIE as it was: every "ie" tried in turn.
func findIEByName(lower string, limit int) (string, int) {
	for i := 0; ; {
		j := strings.Index(lower[i:], "ie")
		if j < 0 || (limit >= 0 && i+j > limit) {
			return "", -1
		}
		at := i + j
		i = at + 2
		if at > 0 && isAlnum(lower[at-1]) {
			continue
		}
		m := ieRe.FindStringSubmatch(window(lower, at, 8))
		if m == nil {
			continue
		}
		if e := at + len(m[0]); e < len(lower) && isAlnum(lower[e]) {
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n < 5 || n > 11 {
			continue
		}
		return m[1], at
	}
}

// TestFindIE compares findIE with findIEByName on strings built from "ie",
// digits, white space and letters.
func TestFindIE(t *testing.T) {
	parts := []string{"ie", "IE", "1", "11", "5", "12", "4", " ", "\t", "\v", "x", "d", ".0", ".", "_", "-"}
	var gen func(s string, depth int)
	found := 0
	gen = func(s string, depth int) {
		checkPrechecks(t, s)
		if _, at := findIE(asciiLower(s), -1); at >= 0 {
			found++
		}
		if depth == 0 {
			return
		}
		for _, p := range parts {
			gen(s+p, depth-1)
		}
	}
	gen("", 4)
	if found < 100 {
		t.Errorf("only %d strings name IE", found)
	}
}

// testAnchors are the anchors Extract searches for.
func testAnchors() []anchor {
	as := []anchor{buildAnchor, winAnchor, serverAnchor, r2Anchor, msieAnchor, epAnchor, newAnchor("cs-"), newAnchor("e"), newAnchor("")}
	for _, bn := range browserNames {
		as = append(as, bn.anchor)
	}
	return as
}

// TestAnchorIndex: anchor.index is strings.Index for every string over a
// small alphabet, with the rare byte first, inside and last.
func TestAnchorIndex(t *testing.T) {
	const alphabet = "egdx"
	var strs []string
	var gen func(s string)
	gen = func(s string) {
		strs = append(strs, s)
		if len(s) < 7 {
			for i := 0; i < len(alphabet); i++ {
				gen(s + alphabet[i:i+1])
			}
		}
	}
	gen("")
	for _, sub := range []string{"edge", "dg", "xe", "ex", "gx", "egde", "x", "ddd"} {
		a := newAnchor(sub)
		for _, s := range strs {
			if got, want := a.index(s), strings.Index(s, sub); got != want {
				t.Fatalf("anchor %q (rare %d) in %q: %d, strings.Index %d", sub, a.rare, s, got, want)
			}
		}
	}
	for sub, rare := range map[string]byte{"edge": 'g', "r2": '2', "firefox": 'x', "chrome": 'm', "server": 'v', "cs-": '-', "msie ": 'm'} {
		if a := newAnchor(sub); a.s[a.rare] != rare {
			t.Errorf("newAnchor(%q) searches %q, want %q", sub, a.s[a.rare], rare)
		}
	}
}

var precheckSeeds = []string{
	"Build Number: 8973", "- Server OS: Windows Server 2019", "• Browser version – Chrome", "Support ticket id = CS-000001",
	"e-mail: a@b", "E-Mail:", "server-betriebssystem: x", "ビルド番号: 9653", "サーバー：", "passwordstate build number #: 1",
	"build no.: 9653", "build #: 9100", "Steps to reproduce:", "How to replicate", "Repro steps", "To reproduce the issue",
	"Step 1 open", "steps :", "Windows Server 2019 ", "OS ", "win ", "server 2012 r2 ", "step 2) click", "screenshots -",
	"I'm here - see", "• build: 1", "•• os:", "Größe: 10", "build 9653", "Windows Server 2019", "win10", "server 2012 r2", "Chrome 131", "edge version 85.0", "ie 11", "text/plain", "Text/HTML; Charset=\"UTF-8\"", "multipart/mixed; boundary=\"=_a b\"; x=y;", "attachment; filename=a.pdf", "a/b;c=d;c=d", "a/b; c*=utf-8''x", "a/b; c=\"x\\\"y\"", "a/b ; c = d ", "a/b;;", "a/b; c=\"\"", "a/b;\vc=d", "/b", "a/", "a", "a/b c", "a/b; c=\"d", "a/b; c=d e", "IE11", "ie 9", "die 11 IE 8", "xie11 ie\t7", "ie 12 IE10", "ビルド番号：9653", "サーバー - x", "ブラウザ: Edge", "· click here", "• open", "名前: x", "os – x", "step", "repro", "replicat", "xreplicatx", "ep", "rep", "sep", "stepreplicate", "eprepro", "Hello world: x", "When I add a password list.", "licence= x", "tel - 1", "to:", "cc =",
}

func TestPrechecks(t *testing.T) {
	for _, s := range precheckSeeds {
		checkPrechecks(t, s)
	}
	// The seeds must exercise the matching side too.
	matched := 0
	for _, s := range precheckSeeds {
		if fieldLineRe.MatchString(asciiLower(s)) {
			matched++
		}
	}
	if matched < 15 {
		t.Errorf("only %d seeds match fieldLineRe", matched)
	}
}

func FuzzPrechecks(f *testing.F) {
	for _, s := range precheckSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		checkPrechecks(t, s)
	})
}

// TestParseMediaTypeSimple: the usual Content-Type and Content-Disposition
// values take the simple path (and FuzzPrechecks's seeds compare it with
// mime.ParseMediaType).
func TestParseMediaTypeSimple(t *testing.T) {
	for _, v := range []string{"text/plain", `text/plain; charset="utf-8"`, "multipart/mixed; boundary=b1; charset=us-ascii", "attachment; filename=a.pdf", "inline;", "TEXT/Plain; CHARSET=x"} {
		if _, _, ok := parseMediaTypeSimple(v); !ok {
			t.Errorf("%q: not parsed", v)
		}
	}
	// Random values from the pieces of the grammar, compared with mime.
	pieces := []string{"text", "/", "plain", "Html", ";", " ", "\t", "=", `"`, "charset", "utf-8", "a b", "*", "\\", "\r\n", "x", "", ",", "é", "\v", "name", "''"}
	rng := rand.New(rand.NewPCG(3, 4))
	simple := 0
	for range 200000 {
		var b strings.Builder
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		v := b.String()
		mt, params, ok := parseMediaTypeSimple(v)
		if !ok {
			continue
		}
		simple++
		wmt, wparams, err := mime.ParseMediaType(v)
		if err != nil || mt != wmt || !maps.Equal(params, wparams) {
			t.Fatalf("%q: parseMediaTypeSimple %q %q, mime %q %q %v", v, mt, params, wmt, wparams, err)
		}
	}
	if simple < 1000 {
		t.Errorf("only %d random values took the simple path", simple)
	}
	for _, v := range []string{"a/b; c*=utf-8''x", "a/b; c=d; c=d", `a/b; c="x\"y"`, `a/b; c="x\\"`, `a/b; c="a\b"`, "a/b; c=\"x\r\ny\"", "a/b;;", "text/plain; name=\"é\"", `a/b; c=""`} {
		if _, _, ok := parseMediaTypeSimple(v); ok {
			t.Errorf("%q: parsed, mime.ParseMediaType's to decide", v)
		}
	}
}

// TestPlainID: where plainID says yes, idToken returns the bracketed input.
func TestPlainID(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, s := range []string{string(rune(c)), "a" + string([]byte{byte(c)}) + "b@c", "x@y" + string([]byte{byte(c)}), strings.Repeat("a", 994) + string([]byte{byte(c)}), strings.Repeat("a", 995) + string([]byte{byte(c)})} {
			if plainID(s) && idToken(s) != "<"+s+">" {
				t.Fatalf("%q: plainID, but idToken gives %q", s, idToken(s))
			}
		}
	}
	if !plainID("abc.123@example.test") || plainID("") || plainID("a b") || plainID("é@x") {
		t.Error("plainID misjudges the usual identifiers")
	}
}
