package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/lake"
)

// version is tarn's release, set at build time with
// -ldflags "-X main.version=v1.2.3"; a build from a checkout says "dev".
var version = "dev"

// versionString is tarn's version with the versions of what it embeds.
func versionString() string {
	v, rev, duck := version, "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/duckdb/duckdb-go/v2" {
				duck = duckDBVersion(d.Version)
			}
		}
	}
	out := "tarn " + v
	if rev != "" {
		out += " (" + rev + ")"
	}
	out += ", " + runtime.Version()
	if duck != "" {
		out += ", DuckDB " + duck
	}
	return out
}

// duckDBVersion reads DuckDB's version from duckdb-go's module version:
// v2.10506.0 embeds DuckDB 1.5.6 (major 1, minor 05, patch 06).
func duckDBVersion(mod string) string {
	parts := strings.Split(strings.TrimPrefix(mod, "v"), ".")
	if len(parts) < 2 || len(parts[1]) != 5 {
		return ""
	}
	n := parts[1]
	minor, err1 := strconv.Atoi(n[1:3])
	patch, err2 := strconv.Atoi(n[3:5])
	if err1 != nil || err2 != nil {
		return ""
	}
	return fmt.Sprintf("%s.%d.%d", n[:1], minor, patch)
}

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the data folder, the server that serves it (endpoints), the key the CLI uses and versions",
		Example: `  tarn status
  tarn --data /srv/lake status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			home, err := filepath.Abs(g.data)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, versionString())
			fmt.Fprintf(out, "data folder  %s", home)
			if st, err := os.Stat(filepath.Join(home, "tarn.db")); err != nil {
				fmt.Fprintf(out, " (no lake yet: tarn init creates one)\n")
			} else {
				fmt.Fprintf(out, " (metadata %d KiB)\n", (st.Size()+1023)/1024)
			}
			si, live := liveServer(home)
			switch {
			case g.serverURL != "":
				fmt.Fprintf(out, "server       %s (--server / TARN_SERVER)\n", g.serverURL)
			case live:
				fmt.Fprintf(out, "server       running, pid %d\n", si.PID)
				fmt.Fprintf(out, "  REST API   %s\n", si.API)
				if si.S3 != "" {
					fmt.Fprintf(out, "  S3         %s\n", si.S3)
				}
				if si.PG != "" {
					fmt.Fprintf(out, "  PostgreSQL %s\n", si.PG)
				}
			case lake.Serving(home):
				fmt.Fprintf(out, "server       running (it holds %s) but has not written serve.json yet\n", lake.ServeLockFile)
			default:
				fmt.Fprintf(out, "server       none: commands work on the files (tarn serve starts one)\n")
			}
			id, secret := os.Getenv("TARN_ACCESS_KEY_ID"), os.Getenv("TARN_SECRET_ACCESS_KEY")
			switch {
			case os.Getenv("TARN_TOKEN") != "":
				fmt.Fprintf(out, "key          the bearer token in TARN_TOKEN\n")
			case id != "" && secret != "":
				fmt.Fprintf(out, "key          %s (TARN_ACCESS_KEY_ID)\n", id)
			default:
				if k, err := auth.ReadAdminKeyFile(home); err == nil {
					fmt.Fprintf(out, "key          %s (the admin key, %s)\n", k.AccessKeyID, filepath.Join(home, "admin-key.json"))
				} else {
					fmt.Fprintf(out, "key          none set: the admin key is used on the files; tarn serve creates it\n")
				}
			}
			return nil
		},
	}
}
