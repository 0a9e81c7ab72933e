package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// strictCommands makes a mistyped command or flag an error (exit 1) that
// suggests the closest name, everywhere in the tree. Cobra's own default
// prints a group command's help and exits 0 for `tarn job updat x`, which a
// script takes for success.
func strictCommands(root *cobra.Command) {
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		msg := err.Error()
		name, ok := strings.CutPrefix(msg, "unknown flag: --")
		if !ok {
			return fmt.Errorf("%w (tarn %s --help lists the flags)", err, strings.TrimPrefix(cmd.CommandPath(), "tarn "))
		}
		best, bestD := "", 3
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if d := editDistance(name, f.Name); d < bestD {
				best, bestD = f.Name, d
			}
		})
		if best != "" {
			return fmt.Errorf("%s; did you mean --%s?", msg, best)
		}
		return fmt.Errorf("%s (%s --help lists the flags)", msg, cmd.CommandPath())
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				} else {
					msg += fmt.Sprintf(" (%s --help lists the commands)", cmd.CommandPath())
				}
				return fmt.Errorf("%s", msg)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// editDistance is Levenshtein's distance between two short names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
