package store

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"supportd/entitlement"
)

// benchCustomers is the store size of the lookup benchmarks (target:
// p99 ≤ 50 µs with 1,000,000 customers).
const benchCustomers = 1_000_000

// csvGen is an io.Reader producing a customer CSV of n generated rows:
// customer i has contacts user<i>@cust<i>.test and admin@cust<i>.test and
// domain cust<i>.test.
type csvGen struct {
	n, i int
	buf  bytes.Buffer
}

func (g *csvGen) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf.WriteString(header)
		} else {
			lic := [...]string{"cal", "enterprise", "global"}[g.i%3]
			fmt.Fprintf(&g.buf, "C%07d,Company %d Pty Ltd,user%d@cust%d.test;admin@cust%d.test,cust%d.test,%s,2027-%02d-%02d,,%v,%v,false\n",
				g.i, g.i, g.i, g.i, g.i, g.i, lic, g.i%12+1, g.i%28+1, g.i%7 == 0, g.i%5 == 0)
		}
		g.i++
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

var (
	benchOnce sync.Once
	benchDir  string
	benchPath string
	benchErr  error
)

func TestMain(m *testing.M) {
	if path := os.Getenv("SUPPORTD_CRASH_DB"); path != "" {
		err := importCrashChild(path, os.Getenv("SUPPORTD_CRASH_AT"))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchStore builds the 1,000,000-customer store once per test process
// (NoSync, one import) and opens it read-only.
func benchStore(b *testing.B) *DB {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "supportd-store-bench-")
		if benchErr != nil {
			return
		}
		benchPath = filepath.Join(benchDir, "supportd.db")
		db, err := Open(benchPath, &Options{NoSync: true})
		if err != nil {
			benchErr = err
			return
		}
		start := time.Now()
		st, err := db.ImportCustomers(&csvGen{n: benchCustomers}, nil)
		if err == nil && st.Added != benchCustomers {
			err = fmt.Errorf("built %+v", st)
		}
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		benchErr = err
		fmt.Fprintf(os.Stderr, "built %d-customer store in %v\n", benchCustomers, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	db, err := Open(benchPath, &Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchLookup times each lookup (its own read transaction included) and
// reports the median and 99th percentile.
func benchLookup(b *testing.B, key func(i int) string, lookup func(tx *Tx, key string) (string, error)) {
	db := benchStore(b)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 4096)
	want := make([]string, len(keys))
	for j := range keys {
		i := rng.IntN(benchCustomers) + 1
		keys[j] = key(i)
		want[j] = fmt.Sprintf("C%07d", i)
	}
	durs := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		j := n % len(keys)
		start := time.Now()
		var id string
		err := db.View(func(tx *Tx) error {
			var err error
			id, err = lookup(tx, keys[j])
			return err
		})
		durs = append(durs, time.Since(start))
		if err != nil || id != want[j] {
			b.Fatalf("lookup %q = %q, %v; want %s", keys[j], id, err, want[j])
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkCustomerByContact(b *testing.B) {
	benchLookup(b, func(i int) string { return fmt.Sprintf("User%d@Cust%d.test", i, i) },
		func(tx *Tx, k string) (string, error) {
			c, err := tx.CustomerByContact(k)
			if c == nil {
				return "", err
			}
			return c.ID, err
		})
}

func BenchmarkCustomerByDomain(b *testing.B) {
	benchLookup(b, func(i int) string { return fmt.Sprintf("cust%d.test", i) },
		func(tx *Tx, k string) (string, error) {
			c, err := tx.CustomerByDomain(k)
			if c == nil {
				return "", err
			}
			return c.ID, err
		})
}

// BenchmarkImportCSV imports 1,000,000 generated rows into a fresh store
// (fsync on, as in production) and reports rows/s and the peak Go heap
// (HeapInuse sampled every 100 ms).
func BenchmarkImportCSV(b *testing.B) {
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "import.db")
		db, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var peak uint64
		stop, sampled := make(chan struct{}), make(chan struct{})
		go func() { // every 100 ms, reading and building alike
			defer close(sampled)
			var ms runtime.MemStats
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		st, err := db.ImportCustomers(&csvGen{n: benchCustomers}, nil)
		el := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampled
		if err != nil || st.Added != benchCustomers {
			b.Fatalf("import: %+v %v", st, err)
		}
		fi, _ := os.Stat(path)
		b.ReportMetric(float64(benchCustomers)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
		db.Close()
	}
}

// BenchmarkImportSmallChange imports a 200,000-row file into a store that
// already holds it, with one row added (fsync on): an import of a few changed
// rows writes them in place instead of a new generation. It reports the
// import's time, the file's growth, the free pages left, and the time of
// one PutCustomer commit afterwards (bbolt writes the freelist on every
// commit, so free pages slow every later write).
func BenchmarkImportSmallChange(b *testing.B) {
	const rows = 200_000
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "import.db")
		db, err := Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.ImportCustomers(&csvGen{n: rows}, nil); err != nil {
			b.Fatal(err)
		}
		fi0, _ := os.Stat(path)
		in := io.MultiReader(&csvGen{n: rows}, strings.NewReader("X0000001,Extra,x@extra.test,extra.test,cal,,,false,false,false\n"))
		b.StartTimer()
		st, err := db.ImportCustomers(in, nil)
		b.StopTimer()
		if err != nil || st.Added != 1 || st.Unchanged != rows {
			b.Fatalf("import: %+v %v", st, err)
		}
		fi1, _ := os.Stat(path)
		const puts = 50
		start := time.Now()
		for i := range puts {
			if err := db.Update(func(tx *Tx) error {
				return tx.PutCustomer(entitlement.Customer{ID: fmt.Sprintf("P%03d", i), Company: "P", License: "cal"})
			}); err != nil {
				b.Fatal(err)
			}
		}
		put := time.Since(start) / puts
		b.ReportMetric(float64(fi1.Size()-fi0.Size())/(1<<20), "growth-MB")
		b.ReportMetric(float64(fi1.Size())/(1<<20), "file-MB")
		b.ReportMetric(float64(db.bolt.Stats().FreePageN), "free-pages")
		b.ReportMetric(float64(put.Microseconds()), "put-µs")
		db.Close()
	}
}
