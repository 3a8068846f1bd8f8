package lm

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxFileBytes bounds the ARPA text Open hands on, plain or gunzipped: a model
// folder is untrusted input, and a gzip stream of repeated bytes inflates a
// thousandfold. The shipped word model is 13 MB of text.
const MaxFileBytes = 256 << 20

// Open opens the ARPA model at path, or path+".gz" (a gzip of it) when path
// does not exist; models/loom-asr ships its models gzipped (a fifth of the
// text). Reading past MaxFileBytes of text is an error, not a short file.
func Open(path string) (io.ReadCloser, error) { return openLimit(path, MaxFileBytes) }

func openLimit(path string, limit int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err == nil {
		return &bounded{r: f, c: f, name: path, left: limit, limit: limit}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	gz, gerr := os.Open(path + ".gz")
	if gerr != nil {
		if errors.Is(gerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: neither it nor %s.gz exists", path, path)
		}
		return nil, gerr
	}
	zr, err := gzip.NewReader(gz)
	if err != nil {
		gz.Close()
		return nil, fmt.Errorf("%s.gz: %w", path, err)
	}
	return &bounded{r: zr, c: gz, name: path + ".gz", left: limit, limit: limit}, nil
}

// bounded reads r until left bytes have gone, then fails if r has more.
type bounded struct {
	r           io.Reader
	c           io.Closer
	name        string
	left, limit int64
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := io.ReadFull(b.r, one[:]); n == 0 {
			return 0, err // io.EOF: the text is exactly limit bytes long
		}
		return 0, fmt.Errorf("%s: more than %d bytes of ARPA text", b.name, b.limit)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *bounded) Close() error { return b.c.Close() }
