// Command normtext runs Loom's text front end (core/textnorm) over lines of
// text, so the offline TTS tools train on exactly the strings the server will
// feed the acoustic model. One JSON object per input line on stdout:
//
//	{"text": "Dr. Smith paid $3.50.", "norm": "doctor smith paid ...", "ids": [5, 16, ...]}
//
//	go run ./tools/tts/normtext < lines.txt > norm.jsonl
//	go run ./tools/tts/normtext -symbols   # the symbol table, one JSON string
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/loomhq/loom/core/textnorm"
)

func main() {
	symbols := flag.Bool("symbols", false, "print the symbol table (index = id) and exit")
	flag.Parse()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	if *symbols {
		enc.Encode(textnorm.Symbols)
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		norm, ids, err := textnorm.NormalizeEncode(in.Text())
		if err != nil {
			fmt.Fprintln(os.Stderr, "normtext:", err)
			os.Exit(1)
		}
		if ids == nil {
			ids = []int{}
		}
		enc.Encode(map[string]any{"text": in.Text(), "norm": norm, "ids": ids})
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "normtext:", err)
		os.Exit(1)
	}
}
