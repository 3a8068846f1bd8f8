package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"

	"github.com/loomhq/loom/hub"
)

func init() {
	register(command{
		Name:    "pull",
		Summary: "download a GGUF file or safetensors repo from a Hugging Face-compatible hub",
		Run:     runPull,
	})
}

func runPull(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pull", stderr)
	file := fs.String("file", "", "file in the repo to download (required when a repo has several GGUF files)")
	out := fs.String("out", "models", "directory to download into")
	endpoint := fs.String("endpoint", envOr("LOOM_HF_ENDPOINT", "https://huggingface.co"), "hub endpoint (env LOOM_HF_ENDPOINT)")
	rev := fs.String("revision", "main", "branch, tag or commit")
	// Flags may follow the positional argument (loom pull REPO --file X).
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return usagef("usage: loom pull REPO_OR_URL [--file NAME] [--out DIR] [--endpoint URL]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p := hub.New(strings.TrimSuffix(*endpoint, "/"), os.Getenv("HF_TOKEN"), stderr)
	target := pos[0]
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		u, err := url.Parse(target)
		if err != nil {
			return usagef("bad URL %q: %v", target, err)
		}
		dest := filepath.Join(*out, path.Base(u.Path))
		if err := p.Download(ctx, target, dest); err != nil {
			return err
		}
		fmt.Fprintln(stdout, dest)
		return nil
	}
	if strings.Count(target, "/") != 1 || strings.Contains(target, "..") {
		return usagef("%q is neither a URL nor a repo id (owner/name)", target)
	}
	dest, err := p.PullRepo(ctx, target, *rev, *file, *out)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, dest)
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
