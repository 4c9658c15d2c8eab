package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"supportd/entitlement"
	"supportd/store"
)

func (a *app) customersCmd() *cobra.Command {
	c := &cobra.Command{Use: "customers", Short: "Import, export, list, show, edit and delete customers"}
	c.AddCommand(a.customersImportCmd(), a.customersExportCmd(), a.customersListCmd(), a.customersShowCmd(), a.customersSetCmd(), a.customersDeleteCmd())
	return c
}

func (a *app) customersImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Import customers from the licensing system's CSV (all or nothing; re-import is idempotent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			_, statErr := os.Lstat(a.cfg.Store.Path)
			fresh := errors.Is(statErr, os.ErrNotExist) // this import creates the store
			db, err := a.openStore(false)
			if err != nil {
				if err := a.viaDaemon(err); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
				defer cancel()
				st, err := a.importViaDaemon(ctx, f)
				var refused *adminRefusal
				switch {
				case errors.As(err, &refused):
					return fmt.Errorf("import %s: nothing imported:\n%w", args[0], err)
				case err != nil:
					// The daemon may have finished the import after we lost it.
					return fmt.Errorf("import %s through the running daemon: %w; the outcome is unknown: see the daemon's log or `supportd customers show`", args[0], err)
				}
				fmt.Fprintf(a.stdout, "imported %s: %d added, %d updated, %d unchanged\n", args[0], st.Added, st.Updated, st.Unchanged)
				return nil
			}
			defer db.Close()
			var progress func(int)
			if fd, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
				bar := progressbar.NewOptions64(-1,
					progressbar.OptionSetWriter(a.stderr),
					progressbar.OptionSetDescription("importing customers"),
					progressbar.OptionShowCount(),
					progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("rows"),
					progressbar.OptionThrottle(100*time.Millisecond),
				)
				last := 0
				progress = func(rows int) {
					_ = bar.Add(rows - last)
					last = rows
				}
				defer func() { _ = bar.Finish(); fmt.Fprintln(a.stderr) }()
			}
			st, err := db.ImportCustomersContext(cmd.Context(), f, progress)
			if err != nil {
				if fresh && db.Close() == nil {
					// Nothing imported: no empty store is left in the way of the
					// next import or a restore.
					os.Remove(a.cfg.Store.Path)
				}
				return fmt.Errorf("import %s: nothing imported:\n%w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "imported %s: %d added, %d updated, %d unchanged\n", args[0], st.Added, st.Updated, st.Unchanged)
			return nil
		},
	}
}

func (a *app) customersExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Write all customers as CSV to stdout (imports back identically)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExportCustomers(a.stdout)
			return err
		},
	}
}

func (a *app) customersListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List customers with their status today",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			pol := a.cfg.Policy()
			now := time.Now()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCOMPANY\tSTATUS\tASUP EXPIRES\tLICENSE\tDOMAINS")
			err = db.View(func(tx *store.Tx) error {
				return tx.ForEachCustomer(func(c entitlement.Customer) error {
					st := entitlement.Evaluate(&c, "contact", true, now, pol).Status
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Company, st, dateOrDash(c.ASUPExpires), c.License, strings.Join(c.Domains, ";"))
					return nil
				})
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
}

func dateOrDash(d entitlement.Date) string {
	if d.IsZero() {
		return "-"
	}
	return d.String()
}

func (a *app) customersShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|CONTACT|DOMAIN",
		Short: "Show one customer (by id, contact address or email domain) and its status today",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			var c *entitlement.Customer
			if err := db.View(func(tx *store.Tx) error {
				c, err = findCustomer(tx, args[0])
				return err
			}); err != nil {
				return err
			}
			if c == nil {
				return fmt.Errorf("no customer with id, contact or domain %s", args[0])
			}
			st := entitlement.Evaluate(c, "contact", true, time.Now(), a.cfg.Policy())
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "id\t%s\ncompany\t%s\nstatus today\t%s (priority %d)\ncontacts\t%s\ndomains\t%s\nlicense\t%s\nasup_expires\t%s\ntrial_expires\t%s\nfree5\t%t\nextended_support\t%t\nha_module\t%t\nsubscriptions\t%s\n",
				c.ID, c.Company, st.Status, st.Priority, strings.Join(c.Contacts, ";"), strings.Join(c.Domains, ";"), c.License,
				dateOrDash(c.ASUPExpires), dateOrDash(c.TrialExpires), c.Free5, c.ExtendedSupport, c.HAModule, subscriptionsText(c, st))
			return tw.Flush()
		},
	}
}

// findCustomer finds a customer by id, else by contact address (with an @),
// else by email domain; nil when none matches.
func findCustomer(tx *store.Tx, key string) (*entitlement.Customer, error) {
	key = strings.TrimSpace(key)
	c, err := tx.Customer(key)
	if c != nil || err != nil {
		return c, err
	}
	lower := strings.ToLower(key)
	if strings.Contains(lower, "@") {
		return tx.CustomerByContact(lower)
	}
	return tx.CustomerByDomain(lower)
}

func (a *app) customersDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete one customer (its contacts and domains become unknown senders)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(false)
			if err != nil {
				if err := a.viaDaemon(err); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
				defer cancel()
				if err := a.deleteViaDaemon(ctx, args[0]); err != nil {
					return err
				}
			} else {
				defer db.Close()
				if err := db.Update(func(tx *store.Tx) error { return tx.DeleteCustomer(args[0]) }); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("no customer %s", args[0])
					}
					return err
				}
			}
			fmt.Fprintf(a.stdout, "customer %s deleted\n", args[0])
			return nil
		},
	}
}

func (a *app) customersSetCmd() *cobra.Command {
	var create bool
	c := &cobra.Command{
		Use:   "set ID [--asup-expires DATE] [--trial-expires DATE] [--free5 BOOL] [--extended-support BOOL] …",
		Short: "Change fields of one customer (dates YYYY-MM-DD, \"\" to clear)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changes := changedFlags(cmd)
			if len(changes) == 0 {
				return usageError{fmt.Errorf("customers set %s: nothing to change: give at least one of --%s", args[0], strings.Join(customerFields, ", --"))}
			}
			// A malformed flag value is a mistake in the command line: said
			// before the store is opened.
			if err := applyCustomerChanges(changes, &entitlement.Customer{}); err != nil {
				return usageError{err}
			}
			var changed bool
			db, err := a.openStore(false)
			if err != nil {
				if err := a.viaDaemon(err); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
				defer cancel()
				if changed, err = a.setViaDaemon(ctx, args[0], create, changes); err != nil {
					return err
				}
			} else {
				defer db.Close()
				if changed, err = setCustomer(db, args[0], create, changes); err != nil {
					return err
				}
			}
			if !changed {
				fmt.Fprintf(a.stdout, "customer %s unchanged: it already has these values\n", args[0])
				return nil
			}
			fmt.Fprintf(a.stdout, "customer %s updated\n", args[0])
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&create, "create", false, "create the customer if it does not exist")
	f.String("company", "", "company name")
	f.String("contacts", "", "contact addresses, ';'-separated")
	f.String("domains", "", "email domains, ';'-separated")
	f.String("license", "", "cal, enterprise or global")
	f.String("asup-expires", "", "Annual Support and Upgrade Protection expiry, YYYY-MM-DD (inclusive)")
	f.String("trial-expires", "", "trial expiry, YYYY-MM-DD")
	f.String("free5", "", "Free for 5 Users licence: true or false")
	f.String("extended-support", "", "Extended 24x7 support: true or false")
	f.String("ha-module", "", "High Availability module: true or false")
	f.String("reset-portal", "", "Self-service reset portal subscription (ends with ASUP): true or false")
	f.String("remote-sites", "", "Remote sites subscription (ends with ASUP): true or false")
	return c
}

// customerFields are the flags of `customers set`, which are also the form keys
// of the admin API's /customers/set.
var customerFields = []string{"company", "contacts", "domains", "license", "asup-expires", "trial-expires", "free5", "extended-support", "ha-module", "reset-portal", "remote-sites"}

// changedFlags returns the customer fields given on the command line.
func changedFlags(cmd *cobra.Command) map[string]string {
	out := map[string]string{}
	for _, name := range customerFields {
		if cmd.Flags().Changed(name) {
			v, _ := cmd.Flags().GetString(name)
			out[name] = v
		}
	}
	return out
}

// setCustomer applies changes (field → value, as the flags take them) to customer
// id in one transaction, creating it when create is set.
// It reports whether the customer changed (a new one always does).
func setCustomer(db *store.DB, id string, create bool, changes map[string]string) (changed bool, err error) {
	if strings.TrimSpace(id) == "" {
		return false, errors.New("customer id is empty")
	}
	err = db.Update(func(tx *store.Tx) error {
		cust, err := tx.Customer(id)
		if err != nil {
			return err
		}
		if cust == nil {
			if !create {
				return fmt.Errorf("no customer %s (use --create to add one)", id)
			}
			cust = &entitlement.Customer{ID: id, License: "enterprise"}
			changed = true
		}
		before := *cust
		if err := applyCustomerChanges(changes, cust); err != nil {
			return err
		}
		if !changed && reflect.DeepEqual(before, *cust) {
			return nil
		}
		changed = true
		return tx.PutCustomer(*cust)
	})
	return changed, err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func applyCustomerChanges(changes map[string]string, c *entitlement.Customer) error {
	for k := range changes {
		if !slices.Contains(customerFields, k) {
			return fmt.Errorf("unknown customer field %q", k)
		}
	}
	str := func(name string) (string, bool) {
		v, ok := changes[name]
		return strings.TrimSpace(v), ok
	}
	list := func(v string) []string {
		var out []string
		for _, s := range strings.Split(v, ";") {
			if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	date := func(name string, dst *entitlement.Date) error {
		v, ok := str(name)
		if !ok {
			return nil
		}
		if v == "" {
			*dst = entitlement.Date{}
			return nil
		}
		d, err := entitlement.ParseDate(v)
		if err != nil {
			return fmt.Errorf("--%s: %q is not a date YYYY-MM-DD", name, v)
		}
		*dst = d
		return nil
	}
	boolean := func(name string, dst *bool) error {
		v, ok := str(name)
		if !ok {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("--%s: %q is not true or false", name, v)
		}
		*dst = b
		return nil
	}
	if v, ok := str("company"); ok {
		c.Company = v
	}
	if v, ok := str("contacts"); ok {
		c.Contacts = list(v)
	}
	if v, ok := str("domains"); ok {
		c.Domains = list(v)
	}
	if v, ok := str("license"); ok {
		switch v {
		case "cal", "enterprise", "global":
			c.License = v
		default:
			return fmt.Errorf("--license: %q must be cal, enterprise or global", v)
		}
	}
	for _, e := range []error{
		date("asup-expires", &c.ASUPExpires),
		date("trial-expires", &c.TrialExpires),
		boolean("free5", &c.Free5),
		boolean("extended-support", &c.ExtendedSupport),
		boolean("ha-module", &c.HAModule),
		boolean("reset-portal", &c.ResetPortal),
		boolean("remote-sites", &c.RemoteSites),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

// subscriptionsText lists the customer's subscriptions and whether they are in
// force today (they end with ASUP).
func subscriptionsText(c *entitlement.Customer, st entitlement.Result) string {
	var held []string
	if c.ResetPortal {
		held = append(held, "reset_portal")
	}
	if c.RemoteSites {
		held = append(held, "remote_sites")
	}
	switch {
	case len(held) == 0:
		return "-"
	case len(st.Subscriptions) == 0:
		return strings.Join(held, ", ") + " (ended with ASUP " + dateOrDash(c.ASUPExpires) + ")"
	}
	return strings.Join(held, ", ") + " (in force until " + dateOrDash(c.ASUPExpires) + ")"
}
