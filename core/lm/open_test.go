package lm

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tinyARPA = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.3\ta\n-0.6\t</s>\n\n\\end\\\n"

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Open reads path, or path.gz when path is absent, to the same text; with
// neither it names both.
func TestOpenPlainOrGzip(t *testing.T) {
	dir := t.TempDir()
	plain, packed := filepath.Join(dir, "a.arpa"), filepath.Join(dir, "b.arpa")
	os.WriteFile(plain, []byte(tinyARPA), 0o644)
	os.WriteFile(packed+".gz", gzipped(t, []byte(tinyARPA)), 0o644)
	for _, p := range []string{plain, packed} {
		rc, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(rc, func(w string) (int, bool) { return int(w[0]), true })
		rc.Close()
		if err != nil || m.Order != 1 {
			t.Fatalf("%s: %v, order %v", p, err, m)
		}
	}
	if _, err := Open(filepath.Join(dir, "none.arpa")); err == nil || !strings.Contains(err.Error(), "none.arpa.gz") {
		t.Fatalf("no file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.arpa.gz"), []byte("not gzip"), 0o644)
	if _, err := Open(filepath.Join(dir, "bad.arpa")); err == nil {
		t.Fatal("a .gz that is not gzip opened")
	}
}

// A gzip that inflates past the bound (MaxFileBytes in Open; 4 MiB here) is an
// error naming it, read without holding the text: a bomb costs time, not
// memory. A plain file past it likewise.
func TestOpenBoundsGzipBomb(t *testing.T) {
	const limit = 4 << 20
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < limit>>20+1; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	dir := t.TempDir()
	bomb, big := filepath.Join(dir, "bomb.arpa"), filepath.Join(dir, "big.arpa")
	os.WriteFile(bomb+".gz", buf.Bytes(), 0o644)
	os.WriteFile(big, make([]byte, limit+1), 0o644)
	for _, p := range []string{bomb, big} {
		rc, err := openLimit(p, limit)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err == nil || !strings.Contains(err.Error(), "more than 4194304 bytes") || n != limit {
			t.Fatalf("%s: read %d bytes, err %v; want %d and the bound's error", p, n, err, limit)
		}
	}
	exact := filepath.Join(dir, "exact.arpa")
	os.WriteFile(exact, make([]byte, limit), 0o644)
	rc, err := openLimit(exact, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if n, err := io.Copy(io.Discard, rc); err != nil || n != limit {
		t.Fatalf("a file of exactly the bound: %d bytes, %v", n, err)
	}
}
