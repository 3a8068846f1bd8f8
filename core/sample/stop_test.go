package sample

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func pushAll(s *Stream, pieces []string) (deltas []string, stopped bool) {
	for _, p := range pieces {
		d, stop := s.Push(p)
		deltas = append(deltas, d)
		if stop {
			return deltas, true
		}
	}
	return append(deltas, s.Flush()), false
}

func TestStreamStops(t *testing.T) {
	cases := []struct {
		stops   []string
		pieces  []string
		deltas  []string
		stopped bool
	}{
		// The stop string spans pieces: "\n" is held, then dropped with the stop.
		{[]string{"\nUser:"}, []string{"Hi", " there\n", "User", ":", " more"}, []string{"Hi", " there", "", ""}, true},
		// A false alarm: held text comes out once it cannot be a stop.
		{[]string{"\nUser:"}, []string{"a\n", "Us", "ed"}, []string{"a", "", "\nUsed", ""}, false},
		// The earliest stop wins; text after it is dropped.
		{[]string{"cd", "b"}, []string{"abcd"}, []string{"a"}, true},
		{nil, []string{"x", "y"}, []string{"x", "y", ""}, false},
		// Held-back prefix at the end is flushed.
		{[]string{"END"}, []string{"the E"}, []string{"the ", "E"}, false},
	}
	for i, c := range cases {
		s := NewStream(c.stops)
		deltas, stopped := pushAll(s, c.pieces)
		if strings.Join(deltas, "|") != strings.Join(c.deltas, "|") || stopped != c.stopped {
			t.Errorf("case %d: deltas %q stopped %v, want %q %v", i, deltas, stopped, c.deltas, c.stopped)
		}
		if s.Text() != strings.Join(c.deltas, "") {
			t.Errorf("case %d: Text %q, want %q", i, s.Text(), strings.Join(c.deltas, ""))
		}
	}
}

func TestStreamHoldsSplitRunes(t *testing.T) {
	s := NewStream(nil)
	e := "é" // 0xC3 0xA9 as two byte-fallback tokens
	if d, _ := s.Push("caf" + e[:1]); d != "caf" {
		t.Fatalf("first delta %q, want %q", d, "caf")
	}
	if d, _ := s.Push(e[1:]); d != e {
		t.Fatalf("second delta %q, want %q", d, e)
	}
	r := "😀" // 4 bytes, one per push
	for i := 0; i < 3; i++ {
		if d, _ := s.Push(r[i : i+1]); d != "" {
			t.Fatalf("partial rune emitted %q after %d bytes", d, i+1)
		}
	}
	if d, _ := s.Push(r[3:]); d != r {
		t.Fatalf("rune delta %q", d)
	}
}

// FuzzStream: the deltas always concatenate to the text before the first
// stop occurrence (or all text), and no delta but the flush ends mid-rune.
func FuzzStream(f *testing.F) {
	f.Add("hello\nUser: x", "\nUser:", 3)
	f.Add("aaab", "aab", 1)
	f.Add("caf\xc3\xa9!", "!", 4)
	f.Fuzz(func(t *testing.T, text, stop string, chunk int) {
		if chunk < 1 || chunk > 16 {
			chunk = 1 + (chunk&0xf+16)%16
		}
		s := NewStream([]string{stop})
		var pieces []string
		for i := 0; i < len(text); i += chunk {
			pieces = append(pieces, text[i:min(i+chunk, len(text))])
		}
		var got strings.Builder
		stopped := false
		for _, p := range pieces {
			d, st := s.Push(p)
			if utf8.ValidString(text) && utf8.ValidString(stop) && !utf8.ValidString(d) {
				t.Fatalf("delta %q is not whole runes", d)
			}
			got.WriteString(d)
			if st {
				stopped = true
				break
			}
		}
		if !stopped {
			got.WriteString(s.Flush())
		}
		want := text
		if stop != "" {
			if i := strings.Index(text, stop); i >= 0 {
				want = text[:i]
			}
		}
		if got.String() != want {
			t.Fatalf("streamed %q, want %q (stop %q, chunk %d)", got.String(), want, stop, chunk)
		}
	})
}
