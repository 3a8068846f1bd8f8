package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/tokenizer"
)

func init() {
	register(command{
		Name:    "tokenize",
		Summary: "print the token ids (or pieces) of standard input",
		Run: func(args []string, stdout, stderr io.Writer) error {
			return runTokenize(args, os.Stdin, stdout, stderr)
		},
	})
}

// maxTokenizeInput bounds what tokenize reads from standard input.
const maxTokenizeInput = 64 << 20

// runTokenize reads all of stdin as one text and prints its ids on one line,
// space separated, as llama.cpp's llama-tokenize tokenizes: control tokens
// written in the text are parsed (unless --no-parse-special), and nothing
// is added unless --bos (then what the vocabulary adds: BOS where it asks
// for one, BERT's [CLS] … [SEP]). --pieces prints each token's text quoted
// instead.
func runTokenize(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("tokenize", stderr)
	model := fs.String("model", "", "model or tokenizer: .gguf, llama2.c .bin (tokenizer beside it), tokenizer.json or its folder")
	bos := fs.Bool("bos", false, "add what the vocabulary adds around a text (BOS)")
	pieces := fs.Bool("pieces", false, "print the pieces (Go-quoted) instead of the ids")
	noSpecial := fs.Bool("no-parse-special", false, "tokenize the text of control tokens as plain text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || fs.NArg() > 0 {
		return usagef("usage: loom tokenize --model FILE [--bos] [--pieces] [--no-parse-special] < TEXT")
	}
	tok, err := loadTokenizer(*model)
	if err != nil {
		return err
	}
	text, err := io.ReadAll(io.LimitReader(stdin, maxTokenizeInput+1))
	if err != nil {
		return fmt.Errorf("read standard input: %w", err)
	}
	if len(text) > maxTokenizeInput {
		return fmt.Errorf("standard input is over %d MiB", maxTokenizeInput>>20)
	}
	ids := tok.EncodeWith(string(text), tokenizer.Options{AddSpecial: *bos, ParseSpecial: !*noSpecial})
	out := make([]string, len(ids))
	for i, id := range ids {
		if *pieces {
			out[i] = strconv.Quote(tokenizer.Piece(tok, id))
		} else {
			out[i] = strconv.Itoa(id)
		}
	}
	_, err = fmt.Fprintln(stdout, strings.Join(out, " "))
	return err
}

// loadTokenizer opens a tokenizer file directly, or a model file for the
// tokenizer in its metadata or beside it.
func loadTokenizer(path string) (tokenizer.Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() || strings.HasSuffix(path, ".json") {
		return tokenizer.Load(path, nil)
	}
	src, err := formats.Open(path)
	if err != nil {
		// Not a model: perhaps a llama2.c tokenizer file (tok512.bin).
		if tok, terr := tokenizer.Load(path, nil); terr == nil {
			return tok, nil
		}
		return nil, err
	}
	defer src.Close()
	return tokenizer.FromSource(src, "")
}
