package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"supportd/entitlement"
)

type (
	boltTx     = bolt.Tx
	boltBucket = bolt.Bucket
)

const header = "id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n"

const goodCSV = header +
	"C100,Acme Pty Ltd,it@acme.test;bob@gmail.com,acme.test;acme-corp.test,enterprise,2027-06-30,,false,true,true\n" +
	"C101,\"Beta, Inc.\",Ops@Beta.test,beta.test,cal,,2026-12-31,false,false,false\n" +
	"C102,Gamma,,gamma.test,global,2025-01-31,,TRUE,False,false\n"

func readAll(in string) ([]entitlement.Customer, []int, error) {
	var cs []entitlement.Customer
	var lines []int
	err := ReadCustomersCSV(strings.NewReader(in), func(line int, c entitlement.Customer) error {
		cs = append(cs, c)
		lines = append(lines, line)
		return nil
	})
	return cs, lines, err
}

func TestReadCustomersCSVGood(t *testing.T) {
	cs, lines, err := readAll(goodCSV)
	if err != nil {
		t.Fatal(err)
	}
	want := []entitlement.Customer{
		{ID: "C100", Company: "Acme Pty Ltd", Contacts: []string{"it@acme.test", "bob@gmail.com"}, Domains: []string{"acme.test", "acme-corp.test"},
			License: "enterprise", ASUPExpires: entitlement.Date{Year: 2027, Month: 6, Day: 30}, ExtendedSupport: true, HAModule: true},
		{ID: "C101", Company: "Beta, Inc.", Contacts: []string{"ops@beta.test"}, Domains: []string{"beta.test"},
			License: "cal", TrialExpires: entitlement.Date{Year: 2026, Month: 12, Day: 31}},
		{ID: "C102", Company: "Gamma", Domains: []string{"gamma.test"}, License: "global",
			ASUPExpires: entitlement.Date{Year: 2025, Month: 1, Day: 31}, Free5: true},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cs, want)
	}
	if !reflect.DeepEqual(lines, []int{2, 3, 4}) {
		t.Errorf("lines = %v", lines)
	}
}

func TestReadCustomersCSVTolerant(t *testing.T) {
	base, _, err := readAll(goodCSV)
	if err != nil {
		t.Fatal(err)
	}
	reordered := "ha_module,extended_support,free5,trial_expires,asup_expires,license,domains,contacts,company,id\n" +
		"true,true,false,,2027-06-30,enterprise,acme.test;acme-corp.test,it@acme.test;bob@gmail.com,Acme Pty Ltd,C100\n"
	optional := "ID,Company,Contacts,Domains,License,ASUP_Expires\n" +
		"C102,Gamma,,gamma.test,global,2025-01-31\n"
	for name, tc := range map[string]struct {
		in   string
		want []entitlement.Customer
	}{
		"CRLF":                     {strings.ReplaceAll(goodCSV, "\n", "\r\n"), base},
		"BOM":                      {"\xef\xbb\xbf" + goodCSV, base},
		"BOM+CRLF":                 {"\xef\xbb\xbf" + strings.ReplaceAll(goodCSV, "\n", "\r\n"), base},
		"blank lines":              {strings.Replace(goodCSV, "\n", "\n\n", 2), base},
		"spaces around list items": {header + "C100,Acme Pty Ltd, it@acme.test ; bob@gmail.com ,acme.test; acme-corp.test;,enterprise,2027-06-30,,false,true,true\n", base[:1]},
		"columns in any order":     {reordered, base[:1]},
		"optional columns absent":  {optional, []entitlement.Customer{{ID: "C102", Company: "Gamma", Domains: []string{"gamma.test"}, License: "global", ASUPExpires: entitlement.Date{Year: 2025, Month: 1, Day: 31}}}},
	} {
		t.Run(name, func(t *testing.T) {
			cs, _, err := readAll(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cs, tc.want) {
				t.Errorf("got %+v\nwant %+v", cs, tc.want)
			}
		})
	}
}

func TestReadCustomersCSVBadRows(t *testing.T) {
	row := func(s string) string {
		return header + "C1,Ok,ok@ok.test,ok.test,cal,2027-01-01,,false,false,false\n" + s + "\n"
	}
	long := strings.Repeat("x", MaxFieldBytes+1)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"bad date", row("C2,B,,b.test,cal,2027-13-01,,false,false,false"), `line 3: asup_expires: "2027-13-01" is not a date YYYY-MM-DD`},
		{"bad day", row("C2,B,,b.test,cal,,2027-02-30,false,false,false"), `line 3: trial_expires: "2027-02-30" is not a date YYYY-MM-DD`},
		{"date format", row("C2,B,,b.test,cal,30/06/2027,,false,false,false"), `line 3: asup_expires: "30/06/2027" is not a date YYYY-MM-DD`},
		{"license", row("C2,B,,b.test,gold,,,false,false,false"), `line 3: license: "gold" is not one of cal, enterprise, global`},
		{"empty license", row("C2,B,,b.test,,,,false,false,false"), `line 3: license: "" is not one of cal, enterprise, global`},
		{"boolean", row("C2,B,,b.test,cal,,,yes,false,false"), `line 3: free5: "yes" is not true or false`},
		{"empty boolean", row("C2,B,,b.test,cal,,,false,,false"), `line 3: extended_support: "" is not true or false`},
		{"email", row("C2,B,not-an-address,b.test,cal,,,false,false,false"), `line 3: contacts: "not-an-address" is not an email address`},
		{"email with space", row("C2,B,a b@b.test,b.test,cal,,,false,false,false"), `line 3: contacts: "a b@b.test" is not an email address`},
		{"domain", row("C2,B,,b_test,cal,,,false,false,false"), `line 3: domains: "b_test" is not a domain`},
		{"empty id", row(",B,,b.test,cal,,,false,false,false"), `line 3: id: is empty`},
		{"id with space", row("C 2,B,,b.test,cal,,,false,false,false"), `line 3: id: "C 2" contains spaces`},
		{"empty company", row("C2,,,b.test,cal,,,false,false,false"), `line 3: company: is empty`},
		{"duplicate id", row("C1,B,,b.test,cal,,,false,false,false"), `line 3: id: "C1" is already on line 2`},
		{"field count", row("C2,B,,b.test,cal"), `line 3: has 5 fields, the header has 10`},
		{"over-long company", row("C2," + long + ",,b.test,cal,,,false,false,false"), `line 3: company: longer than 512 bytes`},
		{"over-long contact", row("C2,B," + long + "@b.test,b.test,cal,,,false,false,false"), `line 3: contacts: entry longer than 512 bytes`},
		{"over-long date cell", row("C2,B,,b.test,cal," + long + ",,false,false,false"), `line 3: asup_expires: longer than 512 bytes`},
		{"control character", row("C2,\"B\x01\",,b.test,cal,,,false,false,false"), `line 3: company: contains control characters`},
		{"bare quote", row("C2,B\"x,,b.test,cal,,,false,false,false"), `line 3: bare " in non-quoted-field`},
		{"multi-line record then bad", header + "C1,\"Two\nLines\",,a.test,cal,,,false,false,false\nC2,B,,b.test,cal,2027-00-01,,false,false,false\n",
			`line 4: asup_expires: "2027-00-01" is not a date YYYY-MM-DD`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(tc.in)
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CSVError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\ndoes not contain\n%s", err, tc.want)
			}
		})
	}
}

func TestReadCustomersCSVHeader(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty file, a header row is required"},
		{"C1,Acme,,a.test,cal,,,false,false,false\n", `unknown column "c1"`},
		{"id,company,contacts,domains,license,asup_expires,colour\n", `unknown column "colour"`},
		{"id,company,contacts,license\n", "missing required column(s) domains, asup_expires"},
		{"id,id,company,contacts,domains,license,asup_expires\n", `column "id" appears twice`},
	} {
		_, _, err := readAll(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestReadCustomersCSVCollectsErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "C%d,Co,,d%d.test,cal,2027-13-%02d,,false,false,false\n", i, i, i)
	}
	_, _, err := readAll(b.String())
	var ce *CSVError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if len(ce.Errs) != MaxCSVErrors || !ce.More {
		t.Errorf("collected %d errors, More=%v; want %d and true", len(ce.Errs), ce.More, MaxCSVErrors)
	}
	for i, le := range ce.Errs {
		if le.Line != i+2 || le.Column != "asup_expires" {
			t.Errorf("error %d = %v", i, le)
		}
	}
	if !strings.Contains(err.Error(), "stopped after 20") {
		t.Errorf("message does not say it stopped: %v", err)
	}
	// errors.Is reaches the individual line errors.
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Errorf("errors.As LineError = %v", le)
	}
}

func TestReadCustomersCSVRecordLimit(t *testing.T) {
	in := header + "C1,\"" + strings.Repeat("a\n", MaxRecordBytes) + "\",,a.test,cal,,,false,false,false\n"
	_, _, err := readAll(in)
	if err == nil || !strings.Contains(err.Error(), "line 2: record longer than") {
		t.Errorf("err = %v", err)
	}
}

func TestFormulaNeutralisation(t *testing.T) {
	for _, s := range []string{"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=x", "''+x", "'abc", "'", "''", "abc", "", "a=b"} {
		n := neutralize(s)
		if n != "" && isFormulaStart(n[0]) {
			t.Errorf("neutralize(%q) = %q still starts a formula", s, n)
		}
		if back := unneutralize(n); back != s {
			t.Errorf("unneutralize(neutralize(%q)) = %q", s, back)
		}
	}
	if neutralize("=cmd|' /C calc'!A0") != "'=cmd|' /C calc'!A0" {
		t.Error("formula not prefixed")
	}
	if neutralize("plain") != "plain" {
		t.Error("plain cell changed")
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	db := openTest(t)
	in := goodCSV +
		"=HYPERLINK(1),\"=cmd|' /C calc'!A0\",-x@minus.test;+y@plus.test,minus.test,cal,,,false,false,false\n" +
		"C200,'=already quoted,'-at@at.test,at.test,cal,,,false,false,false\n" +
		"C201,\"Multi\"\"Quote, Co\",,multi.test,enterprise,2030-01-01,2029-12-31,true,true,true\n"
	st, err := db.ImportCustomers(strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st != (ImportStats{Rows: 6, Added: 6}) {
		t.Errorf("stats = %+v", st)
	}
	view(t, db, func(tx *Tx) error {
		c, _ := tx.Customer("=HYPERLINK(1)")
		if c == nil || c.Company != "=cmd|' /C calc'!A0" || c.Contacts[0] != "-x@minus.test" {
			t.Errorf("formula-like customer = %+v", c)
		}
		c, _ = tx.Customer("C200")
		if c == nil || c.Company != "=already quoted" || c.Contacts[0] != "-at@at.test" {
			t.Errorf("import must strip the neutralising quote: %+v", c)
		}
		return nil
	})
	var out1 bytes.Buffer
	n, err := db.ExportCustomers(&out1)
	if err != nil || n != 6 {
		t.Fatalf("export: %d %v", n, err)
	}
	for _, line := range strings.Split(out1.String(), "\n") {
		for _, cell := range strings.Split(line, ",") {
			cell = strings.TrimPrefix(cell, `"`)
			if cell != "" && isFormulaStart(cell[0]) {
				t.Errorf("exported cell %q starts a formula (line %q)", cell, line)
			}
		}
	}
	if !strings.HasPrefix(out1.String(), header) {
		t.Errorf("export header: %q", strings.SplitN(out1.String(), "\n", 2)[0])
	}

	// Import of the export into a fresh store gives identical customers, and
	// exports byte-identically.
	db2 := openTest(t)
	if _, err := db2.ImportCustomers(bytes.NewReader(out1.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	var out2 bytes.Buffer
	if _, err := db2.ExportCustomers(&out2); err != nil {
		t.Fatal(err)
	}
	if out1.String() != out2.String() {
		t.Errorf("round trip differs:\n%s\n---\n%s", out1.String(), out2.String())
	}
	all := func(db *DB) (cs []entitlement.Customer) {
		view(t, db, func(tx *Tx) error {
			return tx.ForEachCustomer(func(c entitlement.Customer) error { cs = append(cs, c); return nil })
		})
		return cs
	}
	if !reflect.DeepEqual(all(db), all(db2)) {
		t.Error("customers differ after round trip")
	}
	// Re-importing the export into the original store changes nothing.
	st, err = db.ImportCustomers(bytes.NewReader(out1.Bytes()), nil)
	if err != nil || st != (ImportStats{Rows: 6, Unchanged: 6}) {
		t.Errorf("re-import of export: %+v %v", st, err)
	}
	// WriteCustomersCSV sorts by id and matches the store's export.
	var out3 bytes.Buffer
	cs := all(db)
	cs[0], cs[len(cs)-1] = cs[len(cs)-1], cs[0]
	if err := WriteCustomersCSV(&out3, cs); err != nil || out3.String() != out1.String() {
		t.Errorf("WriteCustomersCSV differs (%v):\n%s", err, out3.String())
	}
	var empty bytes.Buffer
	if err := WriteCustomersCSV(&empty, nil); err != nil || empty.String() != header {
		t.Errorf("empty export = %q, %v", empty.String(), err)
	}
}

func TestImportIdempotentAndUpdates(t *testing.T) {
	db := openTest(t)
	var calls []int
	st, err := db.ImportCustomers(strings.NewReader(goodCSV), func(n int) { calls = append(calls, n) })
	if err != nil || st != (ImportStats{Rows: 3, Added: 3}) {
		t.Fatalf("first import: %+v %v", st, err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != 3 {
		t.Errorf("progress calls = %v", calls)
	}
	before := dump(t, db)
	st, err = db.ImportCustomers(strings.NewReader(goodCSV), nil)
	if err != nil || st != (ImportStats{Rows: 3, Unchanged: 3}) {
		t.Errorf("second import: %+v %v", st, err)
	}
	if after := dump(t, db); after != before {
		t.Errorf("re-import changed the data:\n%s\n---\n%s", before, after)
	}
	// One changed row: Updated 1, and a contact moved from C100 to C101 in the
	// same file is fine.
	changed := strings.Replace(goodCSV, "Ops@Beta.test", "Ops@Beta.test;bob@gmail.com", 1)
	changed = strings.Replace(changed, "it@acme.test;bob@gmail.com", "it@acme.test", 1)
	st, err = db.ImportCustomers(strings.NewReader(changed), nil)
	if err != nil || st != (ImportStats{Rows: 3, Updated: 2, Unchanged: 1}) {
		t.Fatalf("changed import: %+v %v", st, err)
	}
	view(t, db, func(tx *Tx) error {
		if c, _ := tx.CustomerByContact("bob@gmail.com"); c == nil || c.ID != "C101" {
			t.Errorf("moved contact → %+v", c)
		}
		return nil
	})
}

// dump returns every key and value of every bucket, for before/after checks.
func dump(t *testing.T, db *DB) string {
	var b strings.Builder
	err := db.bolt.View(func(tx *boltTx) error {
		return tx.ForEach(func(name []byte, bk *boltBucket) error {
			fmt.Fprintf(&b, "[%s seq=%d]\n", name, bk.Sequence())
			return bk.ForEach(func(k, v []byte) error {
				if string(name) == string(bMeta) && string(k) == string(keySecret) {
					v = []byte("(random per store)")
				}
				fmt.Fprintf(&b, "%q=%q\n", k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestImportAllOrNothing(t *testing.T) {
	db := openTest(t)
	if _, err := db.ImportCustomers(strings.NewReader(header+"C1,Old,old@one.test,one.test,cal,,,false,false,false\n"), nil); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)
	bad := goodCSV + "C999,Last,,last.test,cal,2027-13-01,,false,false,false\n"
	st, err := db.ImportCustomers(strings.NewReader(bad), nil)
	var ce *CSVError
	if !errors.As(err, &ce) || len(ce.Errs) != 1 || ce.Errs[0].Line != 5 {
		t.Fatalf("err = %v", err)
	}
	if st != (ImportStats{}) {
		t.Errorf("stats of a failed import = %+v", st)
	}
	if after := dump(t, db); after != before {
		t.Errorf("failed import wrote something")
	}
}

func TestImportConflicts(t *testing.T) {
	db := openTest(t)
	if _, err := db.ImportCustomers(strings.NewReader(header+"C1,Old,old@one.test,one.test,cal,,,false,false,false\n"), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"contact twice in file", header +
			"C2,A,x@a.test,a.test,cal,,,false,false,false\n" +
			"C3,B,X@A.test,b.test,cal,,,false,false,false\n",
			`line 3: contacts: conflict: contact "x@a.test" is also listed for customer C2 on line 2`},
		{"domain twice in file", header +
			"C2,A,,a.test,cal,,,false,false,false\n" +
			"C3,B,,b.test;A.test,cal,,,false,false,false\n",
			`line 3: domains: conflict: domain "a.test" is also listed for customer C2 on line 2`},
		{"taken from a customer not in the file", header +
			"C2,A,old@one.test,a.test,cal,,,false,false,false\n",
			`line 2: contacts: conflict: contact "old@one.test" belongs to existing customer C1, which this file does not list`},
		{"taken from a customer that keeps it later in the file", header +
			"C2,A,,one.test,cal,,,false,false,false\n" +
			"C1,Old,old@one.test,one.test,cal,,,false,false,false\n",
			`line 3: domains: conflict: domain "one.test" is also listed for customer C2 on line 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, db)
			_, err := db.ImportCustomers(strings.NewReader(tc.in), nil)
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err =\n%v\nwant it to contain\n%s", err, tc.want)
			}
			if dump(t, db) != before {
				t.Error("a conflicting import wrote something")
			}
		})
	}
	// Moving a domain to a new customer while the old owner drops it is fine.
	st, err := db.ImportCustomers(strings.NewReader(header+
		"C2,New,,one.test,cal,,,false,false,false\n"+
		"C1,Old,old@one.test,,cal,,,false,false,false\n"), nil)
	if err != nil || st != (ImportStats{Rows: 2, Added: 1, Updated: 1}) {
		t.Fatalf("move: %+v %v", st, err)
	}
	view(t, db, func(tx *Tx) error {
		if c, _ := tx.CustomerByDomain("one.test"); c == nil || c.ID != "C2" {
			t.Errorf("one.test → %+v", c)
		}
		if c, _ := tx.CustomerByContact("old@one.test"); c == nil || c.ID != "C1" {
			t.Errorf("old@one.test → %+v", c)
		}
		return nil
	})
}

func FuzzReadCustomersCSV(f *testing.F) {
	f.Add([]byte(goodCSV))
	f.Add([]byte("\xef\xbb\xbf" + strings.ReplaceAll(goodCSV, "\n", "\r\n")))
	f.Add([]byte(header + "'=x,\"a\"\"b\",'-a@b.test,b.test,cal,,,false,false,false\n"))
	f.Add([]byte(header + "C1,\"x\ny\",,a.test,cal,2027-13-01,,yes,,\n"))
	f.Add([]byte("id,company\nC1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cs []entitlement.Customer
		err := ReadCustomersCSV(bytes.NewReader(data), func(line int, c entitlement.Customer) error {
			if line < 2 {
				t.Errorf("line %d for a data row", line)
			}
			// Every customer handed out is already normalised and valid.
			n, errs := normalizeCustomer(c)
			if len(errs) > 0 || !reflect.DeepEqual(n, c) {
				t.Errorf("row not normalised: %+v (%v)", c, errs)
			}
			cs = append(cs, c)
			return nil
		})
		var ce *CSVError
		if errors.As(err, &ce) && (len(ce.Errs) == 0 || len(ce.Errs) > MaxCSVErrors) {
			t.Errorf("CSVError with %d errors", len(ce.Errs))
		}
		if err != nil {
			return
		}
		// A file read without error writes back and reads again identically.
		var buf bytes.Buffer
		if err := WriteCustomersCSV(&buf, cs); err != nil {
			t.Fatal(err)
		}
		back, _, err := readAll(buf.String())
		if err != nil {
			t.Fatalf("re-read of written CSV: %v\n%q", err, buf.String())
		}
		sorted := slices.Clone(cs)
		slices.SortFunc(sorted, func(a, b entitlement.Customer) int { return strings.Compare(a.ID, b.ID) })
		if !reflect.DeepEqual(back, sorted) {
			t.Errorf("round trip differs:\n%+v\n%+v", back, sorted)
		}
	})
}

// The optional subscription columns import, export only when used, and round-trip.
func TestSubscriptionColumns(t *testing.T) {
	db := openTest(t)
	var plain bytes.Buffer
	if _, err := db.ImportCustomers(strings.NewReader(goodCSV), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExportCustomers(&plain); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(plain.String(), "\n"); first != strings.Join(CSVColumns, ",") {
		t.Fatalf("without subscriptions the header must be the documented one: %q", first)
	}
	in := strings.Join(CSVColumns, ",") + ",remote_sites,reset_portal\n" +
		"C300,Subs Ltd,,subs.test,enterprise,2027-06-30,,false,false,false,true,false\n" +
		"C301,Portal Ltd,,portal.test,enterprise,2027-06-30,,false,false,false,false,true\n"
	if _, err := db.ImportCustomers(strings.NewReader(in), nil); err != nil {
		t.Fatal(err)
	}
	view(t, db, func(tx *Tx) error {
		c, _ := tx.Customer("C300")
		if c == nil || !c.RemoteSites || c.ResetPortal {
			t.Errorf("C300 = %+v, want remote_sites only", c)
		}
		c, _ = tx.Customer("C301")
		if c == nil || c.RemoteSites || !c.ResetPortal {
			t.Errorf("C301 = %+v, want reset_portal only", c)
		}
		return nil
	})
	var out bytes.Buffer
	if _, err := db.ExportCustomers(&out); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); first != strings.Join(CSVColumns, ",")+",reset_portal,remote_sites" {
		t.Fatalf("with subscriptions the header must add them: %q", first)
	}
	if !strings.Contains(out.String(), "C300,Subs Ltd,,subs.test,enterprise,2027-06-30,,false,false,false,false,true\n") {
		t.Errorf("export lacks C300's subscription:\n%s", out.String())
	}
	st, err := db.ImportCustomers(bytes.NewReader(out.Bytes()), nil)
	if err != nil || st.Unchanged != st.Rows || st.Rows == 0 {
		t.Errorf("re-importing the export must change nothing: %+v %v", st, err)
	}
	var buf bytes.Buffer
	cs, _, err := readAll(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCustomersCSV(&buf, cs); err != nil || buf.String() != out.String() {
		t.Errorf("WriteCustomersCSV differs from the export (%v):\n%s\nvs\n%s", err, buf.String(), out.String())
	}
}
