package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionText is what `supportd version` and `--version` print: the module
// version, or for a build from a checkout the VCS revision with "+dirty" when
// the tree had changes, and the Go version, all from the build info.
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "supportd (no build info)"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
		if rev != "" {
			v = rev
			if len(v) > 12 {
				v = v[:12]
			}
		}
	}
	if modified == "true" {
		v += "+dirty"
	}
	return fmt.Sprintf("supportd %s (%s)", v, bi.GoVersion)
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "version",
		Short:       "Print the version (module version or VCS revision) and the Go version",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{"noconfig": "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(a.stdout, versionText(debug.ReadBuildInfo()))
			return nil
		},
	}
}
