package mailparse

import (
	"strings"
	"testing"
)

// The cheap pre-checks in front of regular expressions must never reject a
// string the expression matches.

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
	for _, a := range testAnchors() {
		for i := 0; i <= len(lt); i++ {
			if got, want := a.index(lt[i:]), strings.Index(lt[i:], a.s); got != want {
				t.Errorf("%q: anchor %q (rare byte %d) index %d, strings.Index %d", lt[i:], a.s, a.rare, got, want)
			}
		}
	}
}

// testAnchors are the anchors Extract searches for.
func testAnchors() []anchor {
	as := []anchor{buildAnchor, winAnchor, serverAnchor, r2Anchor, msieAnchor, newAnchor("cs-"), newAnchor("e"), newAnchor("")}
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
	for sub, rare := range map[string]byte{"edge": 'g', "r2": '2', "firefox": 'x', "chrome": 'm', "server": 'v', "cs-": 'c', "msie ": 'm'} {
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
	"I'm here - see", "• build: 1", "•• os:", "Größe: 10", "ビルド番号：9653", "サーバー - x", "ブラウザ: Edge", "· click here", "• open", "名前: x", "os – x", "step", "repro", "replicat", "xreplicatx", "ep", "rep", "sep", "stepreplicate", "eprepro", "Hello world: x", "When I add a password list.", "licence= x", "tel - 1", "to:", "cc =",
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
