package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExample walks the whole command tree: every command a
// user can run (groups too: they print their help) shows, in its help,
// examples that run it, and every tarn line of an example names a command
// that exists with flags it has.
func TestEveryCommandHasExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Hidden || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
			return
		}
		runsItself := false
		for _, args := range exampleCommands(c.Example) {
			// Each example parses as the command it names: a fresh tree,
			// since parsing sets the flags.
			root := newRoot()
			target, rest, err := root.Find(args)
			if err != nil || target == root && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				t.Errorf("%s: example %q names no command (%v)", c.CommandPath(), strings.Join(args, " "), err)
				continue
			}
			if err := target.ParseFlags(rest); err != nil {
				t.Errorf("%s: example %q: %v", c.CommandPath(), strings.Join(args, " "), err)
			}
			// A group's examples are its commands'.
			if target.CommandPath() == c.CommandPath() || c.HasSubCommands() && strings.HasPrefix(target.CommandPath(), c.CommandPath()+" ") {
				runsItself = true
			}
		}
		if !runsItself {
			t.Errorf("%s: no example runs it:\n%s", c.CommandPath(), c.Example)
		}
	}
	walk(newRoot())
}

// exampleCommands returns the arguments of each tarn command line of an
// example, split as a shell does for the quoting examples use ('…', "…",
// and a backslash that continues a line).
func exampleCommands(example string) [][]string {
	var out [][]string
	text := strings.ReplaceAll(example, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		var args []string
		var cur strings.Builder
		quote, inWord := rune(0), false
		for _, r := range strings.TrimSpace(line) {
			switch {
			case quote != 0 && r == quote:
				quote = 0
			case quote != 0:
				cur.WriteRune(r)
			case r == '\'' || r == '"':
				quote, inWord = r, true
			case r == ' ' || r == '\t':
				if inWord {
					args = append(args, cur.String())
					cur.Reset()
					inWord = false
				}
			default:
				cur.WriteRune(r)
				inWord = true
			}
		}
		if inWord {
			args = append(args, cur.String())
		}
		if len(args) > 0 && args[0] == "tarn" {
			out = append(out, args[1:])
		}
	}
	return out
}
