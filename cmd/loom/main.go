// Command loom is Loom's one CLI: serve (all-in-one), gateway, worker,
// generate, bench, convert, pull, … Each subcommand lives in its own file and
// registers itself in init with register, so adding one touches no other file.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. Name may have two words ("bench gemm").
type command struct {
	Name    string
	Summary string
	// Run parses args (everything after the name) and runs. It returns an
	// error for the user (printed as "loom NAME: ERR", exit 1) or a
	// *usageError (exit 2).
	Run func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.Name]; dup {
		panic("loom: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// usageError marks a mistake in how the command was called (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// newFlags returns a FlagSet that reports errors instead of exiting, with a
// usage line naming the command.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("loom "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func main() { os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr)) }

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return 0
	}
	name := args[0]
	rest := args[1:]
	if len(args) > 1 {
		if _, ok := commands[args[0]+" "+args[1]]; ok {
			name, rest = args[0]+" "+args[1], args[2:]
		}
	}
	c, ok := commands[name]
	if !ok {
		if group := subcommands(name); len(group) > 0 {
			fmt.Fprintf(stderr, "loom %s: name one of: %s\n", name, strings.Join(group, ", "))
		} else {
			fmt.Fprintf(stderr, "loom: unknown command %q (run 'loom help')\n", name)
		}
		return 2
	}
	err := c.Run(rest, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "loom %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "loom %s: %v\n", name, err)
		return 1
	}
}

func subcommands(prefix string) []string {
	var out []string
	for n := range commands {
		if strings.HasPrefix(n, prefix+" ") {
			out = append(out, strings.TrimPrefix(n, prefix+" "))
		}
	}
	sort.Strings(out)
	return out
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "loom — multimodal generation server\n\nUsage: loom COMMAND [flags]   (loom COMMAND --help for its flags)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].Summary)
	}
}
