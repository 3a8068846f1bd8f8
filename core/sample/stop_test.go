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
	f.Add("a\xe2\x82b\xff\xc3", "b", 1)
	f.Add("\xed\xa0\x80x\xf0\x9f\x98", "x\xf0", 2)
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
			if !utf8.ValidString(d) {
				t.Fatalf("delta %q is not valid UTF-8", d)
			}
			got.WriteString(d)
			if st {
				stopped = true
				break
			}
		}
		if !stopped {
			d := s.Flush()
			if !utf8.ValidString(d) {
				t.Fatalf("flush %q is not valid UTF-8", d)
			}
			got.WriteString(d)
		}
		// What never is valid UTF-8 comes out as U+FFFD, one per byte.
		want, stop := replaceInvalid(text), replaceInvalid(stop)
		if stop != "" {
			if i := strings.Index(want, stop); i >= 0 {
				want = want[:i]
			}
		}
		if got.String() != want {
			t.Fatalf("streamed %q, want %q (stop %q, chunk %d)", got.String(), want, stop, chunk)
		}
	})
}

// replaceInvalid is the reference for Stream's repair: each byte that does
// not decode is U+FFFD (Go's range-over-string rule).
func replaceInvalid(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				b.WriteRune(utf8.RuneError)
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Issue 17 item 1: byte tokens that never form valid UTF-8 reached the
// plugin's gRPC stream raw ("string field contains invalid UTF-8") and
// killed the job; a sequence cut off by the end was flushed raw too.
func TestStreamRepairsInvalidUTF8(t *testing.T) {
	cases := []struct {
		pieces []string
		deltas []string
	}{
		// A lead byte followed by ASCII: never valid, one U+FFFD.
		{[]string{"a", "\xe2", "b"}, []string{"a", "", "\ufffdb", ""}},
		// A stray continuation byte and 0xFF.
		{[]string{"\x80", "\xff", "ok"}, []string{"\ufffd", "\ufffd", "ok", ""}},
		// A surrogate half (ED A0 80) is invalid byte by byte.
		{[]string{"\xed", "\xa0", "\x80"}, []string{"", "\ufffd\ufffd", "\ufffd", ""}},
		// Completed across pieces it is kept whole.
		{[]string{"\xe2\x82", "\xac"}, []string{"", "€", ""}},
		// Cut off by the end of generation.
		{[]string{"x", "\xf0\x9f\x98"}, []string{"x", "", "\ufffd\ufffd\ufffd"}},
	}
	for i, c := range cases {
		s := NewStream(nil)
		deltas, _ := pushAll(s, c.pieces)
		if strings.Join(deltas, "|") != strings.Join(c.deltas, "|") {
			t.Errorf("case %d: deltas %q, want %q", i, deltas, c.deltas)
		}
		if !utf8.ValidString(s.Text()) || s.Text() != strings.Join(c.deltas, "") {
			t.Errorf("case %d: Text %q", i, s.Text())
		}
	}
	// A stop string still matches after a repaired byte.
	s := NewStream([]string{"END"})
	if deltas, stopped := pushAll(s, []string{"\xc3", "E", "ND"}); !stopped || strings.Join(deltas, "") != "\ufffd" {
		t.Fatalf("stop after repair: %q %v", deltas, stopped)
	}
}
