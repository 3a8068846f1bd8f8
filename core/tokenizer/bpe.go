package tokenizer

import (
	"fmt"

	"loom/core/formats"
)

func bpeFromGGUF(meta formats.Metadata) (Tokenizer, error) { return nil, fmt.Errorf("todo") }

func LoadHF(path string, meta formats.Metadata) (Tokenizer, error) { return nil, fmt.Errorf("todo") }
