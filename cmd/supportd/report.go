package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"supportd/daemon"
	"supportd/store"
)

func (a *app) reportCmd() *cobra.Command {
	c := &cobra.Command{Use: "report", Short: "Reports over the store"}
	var from, to string
	var asJSON bool
	slaCmd := &cobra.Command{
		Use:   "sla [--from DATE] [--to DATE] [--json]",
		Short: "SLA compliance per status of the tickets created from --from to --to (dates in support.timezone, inclusive)",
		Long: "Per entitlement status, the tickets created in the range: responded, met (first response by its first deadline),\n" +
			"breached (at least one late or missing response), open and overdue now, and the median and 90th-percentile\n" +
			"first-response time (nearest rank; support hours only with sla.clock business). --from defaults to the\n" +
			"oldest ticket's date, --to to today.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := a.engine()
			if err != nil {
				return err
			}
			now, loc := time.Now(), a.location()
			var fromDate time.Time
			toDate := now.In(loc)
			if from != "" {
				if fromDate, err = time.Parse(time.DateOnly, from); err != nil {
					return usageError{fmt.Errorf("--from %q: want a date YYYY-MM-DD", from)}
				}
			}
			if to != "" {
				if toDate, err = time.Parse(time.DateOnly, to); err != nil {
					return usageError{fmt.Errorf("--to %q: want a date YYYY-MM-DD", to)}
				}
			}
			if !fromDate.IsZero() && toDate.Format(time.DateOnly) < fromDate.Format(time.DateOnly) {
				if to == "" {
					return usageError{fmt.Errorf("--from %s is after today, %s (the default of --to)", from, toDate.Format(time.DateOnly))}
				}
				return usageError{fmt.Errorf("--to %s is before --from %s", toDate.Format(time.DateOnly), from)}
			}
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			var rep daemon.SLAReport
			if err := db.View(func(tx *store.Tx) error {
				rep, err = daemon.ReportSLA(tx, eng.Calendar, fromDate, toDate, now)
				return err
			}); err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(rep)
			}
			return a.printSLAReport(rep, loc)
		},
	}
	slaCmd.Flags().StringVar(&from, "from", "", "first creation date, YYYY-MM-DD in support.timezone (default: the oldest ticket's)")
	slaCmd.Flags().StringVar(&to, "to", "", "last creation date, inclusive, YYYY-MM-DD in support.timezone (default: today)")
	slaCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (field names as in the documentation)")
	c.AddCommand(slaCmd)
	return c
}

// printSLAReport prints rep as the table of `report sla` (also the demo's).
func (a *app) printSLAReport(rep daemon.SLAReport, loc *time.Location) error {
	fmt.Fprintf(a.stdout, "SLA report, tickets created %s to %s (%s)\n", rep.From, rep.To, loc)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STATUS\tTICKETS\tRESPONDED\tMET\tBREACHED\tOPEN OVERDUE\tFIRST RESPONSE P50\tP90\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.Status, r.Tickets, r.Responded, r.Met, r.Breached, r.OpenOverdue,
			secondsText(r.P50Seconds), secondsText(r.P90Seconds))
	}
	return tw.Flush()
}

// secondsText shows a percentile as a rounded duration, "-" for none.
func secondsText(s *float64) string {
	if s == nil {
		return "-"
	}
	return time.Duration(*s * float64(time.Second)).Round(time.Second).String()
}
