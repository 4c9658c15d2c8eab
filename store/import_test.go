package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// randomCSV writes a customer file of rows (at most universe) over a small
// universe of ids, contacts and domains, so that updates, moves and conflicts with stored customers are
// frequent. A clean file lists each id and each key at most once; otherwise
// duplicate ids and keys claimed twice are frequent too, and bad rows appear
// with probability bad. Half the files have the optional SubscriptionColumns
// (in the order of the header, or swapped), random, so that rows differing
// only in them are updates.
func randomCSV(rng *rand.Rand, universe, rows int, clean bool, bad float64) string {
	var b strings.Builder
	subs := rng.IntN(4)
	switch subs {
	case 0, 1:
		b.WriteString(header)
	case 2:
		b.WriteString(strings.TrimSuffix(header, "\n") + ",reset_portal,remote_sites\n")
	case 3:
		b.WriteString(strings.TrimSuffix(header, "\n") + ",remote_sites,reset_portal\n")
	}
	ids := rng.Perm(universe)
	keys := map[string][]int{"u": rng.Perm(universe * 2), "d": rng.Perm(universe)}
	pick := func(prefix, suffix string) string {
		var items []string
		for range rng.IntN(3) {
			pool := keys[prefix]
			if len(pool) == 0 {
				break
			}
			k := pool[0]
			if clean {
				keys[prefix] = pool[1:]
			} else {
				k = pool[rng.IntN(len(pool))]
			}
			items = append(items, fmt.Sprintf("%s%d%s", prefix, k, suffix))
		}
		return strings.Join(items, ";")
	}
	for i := range rows {
		id := fmt.Sprintf("C%d", ids[i])
		if !clean {
			id = fmt.Sprintf("C%d", ids[rng.IntN(universe)])
		}
		lic := [...]string{"cal", "enterprise", "global"}[rng.IntN(3)]
		company := "Co " + strconv.Itoa(rng.IntN(3))
		date := ""
		if rng.IntN(2) == 0 {
			date = fmt.Sprintf("2027-0%d-01", rng.IntN(9)+1)
		}
		if rng.Float64() < bad {
			switch rng.IntN(4) {
			case 0:
				lic = "gold"
			case 1:
				date = "2027-13-01"
			case 2:
				id = ""
			case 3:
				b.WriteString("C0,short row\n")
				continue
			}
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,,false,%v,false", id, company,
			pick("u", "@x.test"), pick("d", ".test"), lic, date, rng.IntN(2) == 0)
		if subs >= 2 {
			sub := [...]string{"true", "false", "TRUE"}
			fmt.Fprintf(&b, ",%s,%s", sub[rng.IntN(3)], sub[rng.IntN(3)])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestImportMatchesReference imports random files into two stores, one with
// the previous single-transaction import (import_ref_test.go) and one with
// the bounded one, forced to tiny sort runs, write chunks and in-place
// thresholds so that every merge, resume and cascade path runs, and both
// the new generation and the in-place write: errors, stats, progress calls
// and every bucket must be identical after each import.
func TestImportMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	paths := map[string]int{}
	for round := range 12 {
		universe := []int{4, 12, 40, 120}[round%4]
		ref, got := openTest(t), openTest(t)
		got.importRunBytes = []int{40, 200, 1 << 20}[round%3]
		got.importChunkKeys = []int{1, 3, 10000, 7, 30, 10000}[round%6]
		got.importInPlace = []int{32 << 20, 300, 32 << 20, 32 << 20}[round%4]
		got.importHook = func(point string) error {
			paths[point]++
			return nil
		}
		for step := range 25 {
			rows := universe
			if rng.IntN(2) == 0 {
				rows = rng.IntN(universe) + 1
			}
			clean := rng.IntN(3) > 0
			bad := []float64{0, 0, 0.02, 0.3}[rng.IntN(4)]
			in := randomCSV(rng, universe, rows, clean, bad)
			var refCalls, gotCalls []int
			refSt, refErr := ref.refImportCustomers(strings.NewReader(in), func(n int) { refCalls = append(refCalls, n) })
			gotSt, gotErr := got.ImportCustomers(strings.NewReader(in), func(n int) { gotCalls = append(gotCalls, n) })
			if fmt.Sprint(refErr) != fmt.Sprint(gotErr) || refSt != gotSt {
				t.Fatalf("round %d step %d: reference %+v\n%v\n--- bounded %+v\n%v\n--- file:\n%s", round, step, refSt, refErr, gotSt, gotErr, in)
			}
			var ce *CSVError
			if gotErr != nil && !errors.As(gotErr, &ce) {
				t.Fatalf("not a CSVError: %v", gotErr)
			}
			if fmt.Sprint(refCalls) != fmt.Sprint(gotCalls) {
				t.Fatalf("progress: reference %v, bounded %v", refCalls, gotCalls)
			}
			if a, b := dump(t, ref), dump(t, got); a != b {
				t.Fatalf("round %d step %d: stores differ\n%s\n--- bounded:\n%s\n--- file:\n%s", round, step, a, b, in)
			}
		}
		if err := got.Check(); err != nil {
			t.Fatal(err)
		}
	}
	if paths["apply"] < 15 || paths["swap"] < 15 {
		t.Errorf("imports in place %d, by a new generation %d: want both", paths["apply"], paths["swap"])
	}
	t.Logf("imports in place %d, by a new generation %d", paths["apply"], paths["swap"])
}

// TestImportManyRuns covers a large file (more runs than maxFanIn, so runs
// are merged in two levels) against the reference, and the progress calls.
func TestImportManyRuns(t *testing.T) {
	const n = 25000
	ref, got := openTest(t), openTest(t)
	got.importRunBytes = 16 << 10
	var calls []int
	for _, gen := range []func() *csvGen{func() *csvGen { return &csvGen{n: n} }, func() *csvGen { return &csvGen{n: n / 2} }} {
		calls = calls[:0]
		refSt, refErr := ref.refImportCustomers(gen(), nil)
		gotSt, gotErr := got.ImportCustomers(gen(), func(n int) { calls = append(calls, n) })
		if refErr != nil || gotErr != nil || refSt != gotSt {
			t.Fatalf("reference %+v %v, bounded %+v %v", refSt, refErr, gotSt, gotErr)
		}
		if dump(t, ref) != dump(t, got) {
			t.Fatal("stores differ")
		}
	}
	if fmt.Sprint(calls) != "[10000 12500]" {
		t.Errorf("progress calls %v", calls)
	}
}

// customersOnly dumps the three buckets an import replaces.
func customersOnly(t *testing.T, db *DB) string {
	var b strings.Builder
	view(t, db, func(tx *Tx) error {
		for _, name := range generationBuckets {
			fmt.Fprintf(&b, "[%s]\n", name)
			if err := tx.tx.Bucket(name).ForEach(func(k, v []byte) error {
				fmt.Fprintf(&b, "%q=%q\n", k, v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return b.String()
}

func leftovers(t *testing.T, db *DB) (staging bool, dirs []string) {
	t.Helper()
	if err := db.bolt.View(func(tx *boltTx) error {
		staging = tx.Bucket(bImportStaging) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dirs, _ = filepath.Glob(db.path + ".import-*")
	return staging, dirs
}

const initialCSV = header +
	"C1,One,a@one.test;b@one.test,one.test,cal,,,false,false,false\n" +
	"C2,Two,a@two.test,two.test,enterprise,2027-01-01,,false,false,false\n" +
	"C3,Three,,three.test,global,,,false,false,false\n"

// changingCSV updates C1 (drops b@one.test), moves two.test from C2 to C4,
// adds C4 and C5, and leaves C3 out.
const changingCSV = header +
	"C1,One,a@one.test,one.test,cal,,,false,false,false\n" +
	"C2,Two,a@two.test,,enterprise,2027-01-01,,false,false,false\n" +
	"C4,Four,b@one.test,two.test;four.test,cal,,,false,false,false\n" +
	"C5,Five,x@five.test,five.test,cal,,,false,false,false\n"

// TestImportFailureLeavesStoreUnchanged stops the import at every point
// where it can fail (after reading, after each committed chunk, before the
// swap): the store is exactly as before, with no staging bucket or work
// directory left, and lookups during the build see the old generation.
func TestImportFailureLeavesStoreUnchanged(t *testing.T) {
	for stopAt := 0; ; stopAt++ {
		db := openTest(t)
		db.importChunkKeys = 2
		if _, err := db.ImportCustomers(strings.NewReader(initialCSV), nil); err != nil {
			t.Fatal(err)
		}
		before, beforeCustomers := dump(t, db), customersOnly(t, db)
		errStop := errors.New("stop here")
		calls := 0
		db.importHook = func(point string) error {
			if customersOnly(t, db) != beforeCustomers {
				t.Fatalf("at %s #%d readers see a changed generation", point, calls)
			}
			calls++
			if calls > stopAt {
				return fmt.Errorf("%s: %w", point, errStop)
			}
			return nil
		}
		st, err := db.ImportCustomers(strings.NewReader(changingCSV), nil)
		if calls <= stopAt {
			// Every point passed: the import went through.
			if err != nil || st != (ImportStats{Rows: 4, Added: 2, Updated: 2}) {
				t.Fatalf("unhooked import: %+v %v", st, err)
			}
			if stopAt < 5 {
				t.Fatalf("only %d hook points", stopAt)
			}
			view(t, db, func(tx *Tx) error {
				for addr, want := range map[string]string{"b@one.test": "C4", "a@one.test": "C1", "x@five.test": "C5"} {
					if c, _ := tx.CustomerByContact(addr); c == nil || c.ID != want {
						t.Errorf("contact %s → %+v, want %s", addr, c, want)
					}
				}
				for dom, want := range map[string]string{"two.test": "C4", "three.test": "C3", "one.test": "C1"} {
					if c, _ := tx.CustomerByDomain(dom); c == nil || c.ID != want {
						t.Errorf("domain %s → %+v, want %s", dom, c, want)
					}
				}
				return nil
			})
			return
		}
		if !errors.Is(err, errStop) || st != (ImportStats{}) {
			t.Fatalf("stop at %d: %+v %v", stopAt, st, err)
		}
		if after := dump(t, db); after != before {
			t.Fatalf("stop at %d changed the store:\n%s\n---\n%s", stopAt, before, after)
		}
		if staging, dirs := leftovers(t, db); staging || len(dirs) > 0 {
			t.Fatalf("stop at %d left staging=%v dirs=%v", stopAt, staging, dirs)
		}
	}
}

// importCrashChild is the child process of TestImportCrash (TestMain runs it
// when SUPPORTD_CRASH_DB is set): it imports and dies at the chosen hook
// point, without closing the store. It returns only on failure.
func importCrashChild(path, stop string) error {
	n, _ := strconv.Atoi(stop)
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		return err
	}
	db.importChunkKeys = 2
	calls := 0
	db.importHook = func(string) error {
		if calls++; calls > n {
			os.Exit(3) // killed mid-import: no rollback, no cleanup
		}
		return nil
	}
	_, err = db.ImportCustomers(strings.NewReader(changingCSV), nil)
	return fmt.Errorf("import finished: %v", err)
}

// TestImportCrash kills a process in the middle of an import, after some
// chunks of the new generation were committed: the next Open discards the
// leftovers with a warning, the store is exactly as before, and the import
// then succeeds.
func TestImportCrash(t *testing.T) {
	for _, stopAt := range []int{1, 4} {
		path := filepath.Join(t.TempDir(), "supportd.db")
		db, err := Open(path, &Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ImportCustomers(strings.NewReader(initialCSV), nil); err != nil {
			t.Fatal(err)
		}
		before := dump(t, db)
		db.Close()

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SUPPORTD_CRASH_DB="+path, "SUPPORTD_CRASH_AT="+strconv.Itoa(stopAt))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("child: %v\n%s", err, out)
		}
		// The crash left a staging bucket and a work directory.
		raw, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		staging, dirs := leftovers(t, raw)
		raw.Close()
		if !staging || len(dirs) != 1 {
			t.Fatalf("stop at %d: staging=%v dirs=%v, want both left by the crash", stopAt, staging, dirs)
		}

		var logBuf bytes.Buffer
		db, err = Open(path, &Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logBuf.String(), "interrupted customer import") {
			t.Errorf("no warning logged: %q", logBuf.String())
		}
		if staging, dirs := leftovers(t, db); staging || len(dirs) > 0 {
			t.Errorf("after Open: staging=%v dirs=%v", staging, dirs)
		}
		if after := dump(t, db); after != before {
			t.Errorf("crash at %d changed the store:\n%s\n---\n%s", stopAt, before, after)
		}
		st, err := db.ImportCustomers(strings.NewReader(changingCSV), nil)
		if err != nil || st != (ImportStats{Rows: 4, Added: 2, Updated: 2}) {
			t.Errorf("import after crash: %+v %v", st, err)
		}
		db.Close()
		checkFile(t, path)
	}
}

// TestImportTooManyErrors: errors past MaxCSVErrors stop the report there,
// duplicate ids included, in file order.
func TestImportTooManyErrors(t *testing.T) {
	db := openTest(t)
	var b strings.Builder
	b.WriteString(header)
	for i := range 35 {
		fmt.Fprintf(&b, "C%d,Co,,d%d.test,cal,,,false,false,false\n", i%10, i)
	}
	_, err := db.ImportCustomers(strings.NewReader(b.String()), nil)
	var ce *CSVError
	if !errors.As(err, &ce) || !ce.More || len(ce.Errs) != MaxCSVErrors {
		t.Fatalf("err = %v", err)
	}
	if ce.Errs[0].Line != 12 || ce.Errs[MaxCSVErrors-1].Line != 31 || !strings.Contains(ce.Errs[0].Error(), `"C0" is already on line 2`) {
		t.Errorf("errors %v", ce)
	}
}

// TestImportDiscardsStaleStaging checks that an import started while a
// staging bucket exists (an earlier failure that could not clean up)
// discards it first.
func TestImportDiscardsStaleStaging(t *testing.T) {
	db := openTest(t)
	var logBuf bytes.Buffer
	db.log = slog.New(slog.NewTextHandler(&logBuf, nil))
	if err := db.bolt.Update(func(tx *boltTx) error {
		b, err := tx.CreateBucket(bImportStaging)
		if err != nil {
			return err
		}
		return b.Put([]byte("junk"), []byte("x"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportCustomers(strings.NewReader(initialCSV), nil); err != nil {
		t.Fatal(err)
	}
	if staging, _ := leftovers(t, db); staging || !strings.Contains(logBuf.String(), "interrupted") {
		t.Errorf("staging=%v log=%q", staging, logBuf.String())
	}
}

// TestImportReadOnly: a read-only store refuses an import, even one that
// would change nothing.
func TestImportReadOnly(t *testing.T) {
	db := openTest(t)
	if _, err := db.ImportCustomers(strings.NewReader(initialCSV), nil); err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	db.Close()
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.ImportCustomers(strings.NewReader(initialCSV), nil); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only import: %v", err)
	}
	if _, dirs := leftovers(t, ro); len(dirs) > 0 {
		t.Errorf("work directories left: %v", dirs)
	}
}

// TestImportCancel cancels the context at each hook point of an import
// (after reading, after each committed chunk, before the swap, or before
// the in-place write): the import stops with an error wrapping
// context.Canceled, the store is exactly as before, and no staging bucket or
// work directory is left.
func TestImportCancel(t *testing.T) {
	for _, chunk := range []int{2, 10000} {
		testImportCancel(t, chunk)
	}
}

func testImportCancel(t *testing.T, chunk int) {
	for stopAt := 0; ; stopAt++ {
		db := openTest(t)
		db.importChunkKeys = chunk
		if _, err := db.ImportCustomers(strings.NewReader(initialCSV), nil); err != nil {
			t.Fatal(err)
		}
		before := dump(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		calls, point := 0, ""
		db.importHook = func(p string) error {
			if calls == stopAt {
				point = p
				cancel()
			}
			calls++
			return nil
		}
		st, err := db.ImportCustomersContext(ctx, strings.NewReader(changingCSV), nil)
		cancel()
		if calls <= stopAt {
			if err != nil || st.Rows != 4 {
				t.Fatalf("uncancelled import: %+v %v", st, err)
			}
			// In place: after reading, before the write; else read, chunks, swap.
			if chunk == 10000 && stopAt != 2 || chunk == 2 && stopAt < 5 {
				t.Fatalf("chunk %d: %d hook points", chunk, stopAt)
			}
			return
		}
		if !errors.Is(err, context.Canceled) || st != (ImportStats{}) {
			t.Fatalf("cancel at %s (#%d): %+v %v", point, stopAt, st, err)
		}
		if after := dump(t, db); after != before {
			t.Fatalf("cancel at %s (#%d) changed the store:\n%s\n---\n%s", point, stopAt, before, after)
		}
		if staging, dirs := leftovers(t, db); staging || len(dirs) > 0 {
			t.Fatalf("cancel at %s (#%d) left staging=%v dirs=%v", point, stopAt, staging, dirs)
		}
	}
}

// TestImportCancelledBeforeStart: a context already done writes nothing and
// creates no work directory.
func TestImportCancelledBeforeStart(t *testing.T) {
	db := openTest(t)
	before := dump(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.ImportCustomersContext(ctx, strings.NewReader(initialCSV), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if dump(t, db) != before {
		t.Error("store changed")
	}
	if staging, dirs := leftovers(t, db); staging || len(dirs) > 0 {
		t.Errorf("staging=%v dirs=%v", staging, dirs)
	}
}

var wideDomain = strings.Repeat("l", 60) + "." + strings.Repeat("m", 60) + ".example.test"

// wideGen is an io.Reader producing n customers with contacts addresses of
// about 200 bytes each: wide rows, for the memory bound.
type wideGen struct {
	n, contacts, i int
	buf            strings.Builder
	pending        string
}

func (g *wideGen) Read(p []byte) (int, error) {
	for len(g.pending) < len(p) && g.i <= g.n {
		g.buf.Reset()
		if g.i == 0 {
			g.buf.WriteString(header)
		} else {
			fmt.Fprintf(&g.buf, "W%06d,Wide %d,", g.i, g.i)
			for j := range g.contacts {
				if j > 0 {
					g.buf.WriteByte(';')
				}
				fmt.Fprintf(&g.buf, "person.%03d.of.customer.%06d.with.a.long.local.part.padding@w%06d.%s", j, g.i, g.i, wideDomain)
			}
			fmt.Fprintf(&g.buf, ",w%06d.example.test,cal,,,false,false,false\n", g.i)
		}
		g.pending += g.buf.String()
		g.i++
	}
	if len(g.pending) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// TestImportWideRowsBoundedHeap imports rows of 150 long contacts (about
// 30 KB of CSV each, 60 MB in all) and samples the heap while it runs: read
// batches and build transactions are bounded by bytes, not only by row
// count, so the peak stays far below what holding every row (the batch of
// 10,000 rows) or every record (one build transaction of 10,000 keys) costs:
// about 285 MB before the byte budget, about 56 MB with it.
func TestImportWideRowsBoundedHeap(t *testing.T) {
	db := openTest(t)
	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	st, err := db.ImportCustomers(&wideGen{n: 2000, contacts: 150}, nil)
	close(stop)
	wg.Wait()
	if err != nil || st.Added != 2000 {
		t.Fatalf("import: %+v %v", st, err)
	}
	view(t, db, func(tx *Tx) error {
		c, err := tx.CustomerByContact(fmt.Sprintf("person.149.of.customer.002000.with.a.long.local.part.padding@w002000.%s", wideDomain))
		if err != nil || c == nil || c.ID != "W002000" || len(c.Contacts) != 150 {
			t.Errorf("lookup: %+v %v", c, err)
		}
		return nil
	})
	if peak > 150<<20 {
		t.Errorf("peak HeapInuse %d MB, want < 150 MB", peak>>20)
	}
	t.Logf("peak HeapInuse %d MB", peak>>20)
}

// TestImportSmallChangeInPlace: adding one row to a 5,000-row store writes
// it in place: no new generation (whose old pages would all be freed), the
// file does not grow, and lookups find the new row and the old ones.
func TestImportSmallChangeInPlace(t *testing.T) {
	db := openTest(t)
	if _, err := db.ImportCustomers(&csvGen{n: 5000}, nil); err != nil {
		t.Fatal(err)
	}
	fi0, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	db.importHook = func(p string) error { points = append(points, p); return nil }
	in := io.MultiReader(&csvGen{n: 5000}, strings.NewReader("X1,Extra,x@extra.test,extra.test,cal,,,false,false,true\n"))
	st, err := db.ImportCustomers(in, nil)
	if err != nil || st != (ImportStats{Rows: 5001, Added: 1, Unchanged: 5000}) {
		t.Fatalf("import: %+v %v", st, err)
	}
	if fmt.Sprint(points) != "[read apply]" {
		t.Errorf("hook points %v, want [read apply]", points)
	}
	fi1, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	stats := db.bolt.Stats()
	free := stats.FreePageN + stats.PendingPageN
	if fi1.Size() != fi0.Size() || free > 50 {
		t.Errorf("file %d → %d bytes, %d free pages", fi0.Size(), fi1.Size(), free)
	}
	view(t, db, func(tx *Tx) error {
		for addr, want := range map[string]string{"x@extra.test": "X1", "user77@cust77.test": "C0000077"} {
			if c, err := tx.CustomerByContact(addr); err != nil || c == nil || c.ID != want {
				t.Errorf("contact %s → %+v %v, want %s", addr, c, err, want)
			}
		}
		return nil
	})
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
