package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/loomhq/loom/core/formats"
)

func init() {
	register(command{
		Name:    "convert",
		Summary: "convert a llama2.c checkpoint + tokenizer to GGUF",
		Run:     runConvert,
	})
}

func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("convert", stderr)
	from := fs.String("from", "llama2c", "source format (llama2c)")
	in := fs.String("in", "", "input checkpoint (.bin)")
	tok := fs.String("tokenizer", "", "llama2.c tokenizer file (tok512.bin, tokenizer.bin)")
	out := fs.String("out", "", "output .gguf path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "llama2c" {
		return usagef("--from %q: only llama2c is supported", *from)
	}
	if *in == "" || *tok == "" || *out == "" || fs.NArg() > 0 {
		return usagef("usage: loom convert --from llama2c --in MODEL.bin --tokenizer TOK.bin --out MODEL.gguf")
	}
	m, err := formats.OpenLlama2C(*in)
	if err != nil {
		return err
	}
	defer m.Close()
	v, err := formats.ReadLlama2CVocab(*tok)
	if err != nil {
		return err
	}
	meta, tensors, err := formats.Llama2CToGGUF(m, v)
	if err != nil {
		return err
	}
	// Write beside the target and rename, so a failed conversion never leaves
	// a truncated .gguf that would later fail to load.
	tmp, err := os.CreateTemp(filepath.Dir(*out), filepath.Base(*out)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := formats.WriteGGUF(tmp, meta, tensors); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %d metadata keys\n", *out, len(tensors), len(meta))
	return nil
}
