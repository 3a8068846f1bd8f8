package sample

import (
	"strings"
	"unicode/utf8"
)

// Stream turns token pieces into text deltas for streaming. It holds back
// text that could still become a stop string, so a client never sees part of
// one, and an incomplete UTF-8 sequence (a byte-fallback token splits a rune
// across tokens), so every delta is whole runes. Bytes that can never become
// valid UTF-8 (a model is free to sample byte tokens in any order) are
// replaced by U+FFFD, one per byte, as llama-server does: every delta and
// Text are valid UTF-8, which gRPC string fields and JSON clients require.
type Stream struct {
	stops   []string
	pending string // decoded but not yet emitted
	emitted strings.Builder
	stopped bool
}

// NewStream returns a stream that ends at the first of stops (empty strings
// are ignored).
func NewStream(stops []string) *Stream {
	s := &Stream{}
	for _, st := range stops {
		if st != "" {
			s.stops = append(s.stops, validUTF8(st, true))
		}
	}
	return s
}

// validUTF8 replaces each byte of s that does not belong to a valid UTF-8
// sequence by U+FFFD. Unless final, an incomplete sequence at the very end
// is kept as it is: the next piece may complete it.
func validUTF8(s string, final bool) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			if !final && !utf8.FullRuneInString(s[i:]) {
				b.WriteString(s[i:]) // a rune still arriving
				break
			}
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// Push adds a token's text. It returns the text that is now safe to emit
// (possibly empty) and stop = true when a stop string has completed; the stop
// string and anything after it are then dropped and further pushes are no-ops.
func (s *Stream) Push(piece string) (delta string, stop bool) {
	if s.stopped {
		return "", true
	}
	s.pending = validUTF8(s.pending+piece, false)
	if delta, ok := s.cutAtStop(); ok {
		return delta, true
	}
	hold := s.holdback()
	delta = s.pending[:len(s.pending)-hold]
	s.pending = s.pending[len(s.pending)-hold:]
	s.emitted.WriteString(delta)
	return delta, false
}

// cutAtStop ends the stream when pending holds a stop string: the text
// before it is the last delta.
func (s *Stream) cutAtStop() (string, bool) {
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(s.pending, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut < 0 {
		return "", false
	}
	delta := s.pending[:cut]
	s.pending = ""
	s.stopped = true
	s.emitted.WriteString(delta)
	return delta, true
}

// holdback is how many trailing bytes of pending must wait: an unfinished
// rune at the end, and before it the longest suffix that is a proper prefix
// of a stop string (the unfinished rune, whatever it becomes, may continue
// that stop string).
func (s *Stream) holdback() int {
	p := s.pending
	tail := 0
	for back := 1; back <= 3 && back <= len(p); back++ {
		if utf8.RuneStart(p[len(p)-back]) {
			if !utf8.FullRuneInString(p[len(p)-back:]) {
				tail = back
			}
			break
		}
	}
	head := p[:len(p)-tail]
	hold := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(head)); n > hold; n-- {
			if strings.HasSuffix(head, st[:n]) {
				hold = n
				break
			}
		}
	}
	return tail + hold
}

// Flush returns whatever is still held back, for when generation ends
// without a stop string (EOS or max tokens).
func (s *Stream) Flush() string {
	// A sequence cut off by the end never completes; its U+FFFD may
	// complete a stop string.
	s.pending = validUTF8(s.pending, true)
	if d, ok := s.cutAtStop(); ok {
		return d
	}
	d := s.pending
	s.pending = ""
	s.emitted.WriteString(d)
	return d
}

// Text is everything emitted so far.
func (s *Stream) Text() string { return s.emitted.String() }

// Stopped reports whether a stop string ended the stream.
func (s *Stream) Stopped() bool { return s.stopped }
