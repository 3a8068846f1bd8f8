package sample

import (
	"strings"
	"unicode/utf8"
)

// Stream turns token pieces into text deltas for streaming. It holds back
// text that could still become a stop string, so a client never sees part of
// one, and an incomplete UTF-8 sequence (a byte-fallback token splits a rune
// across tokens), so every delta is whole runes.
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
			s.stops = append(s.stops, st)
		}
	}
	return s
}

// Push adds a token's text. It returns the text that is now safe to emit
// (possibly empty) and stop = true when a stop string has completed; the stop
// string and anything after it are then dropped and further pushes are no-ops.
func (s *Stream) Push(piece string) (delta string, stop bool) {
	if s.stopped {
		return "", true
	}
	s.pending += piece
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(s.pending, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		delta = s.pending[:cut]
		s.pending = ""
		s.stopped = true
		s.emitted.WriteString(delta)
		return delta, true
	}
	hold := s.holdback()
	delta = s.pending[:len(s.pending)-hold]
	s.pending = s.pending[len(s.pending)-hold:]
	s.emitted.WriteString(delta)
	return delta, false
}

// holdback is how many trailing bytes of pending must wait: the longest
// suffix that is a proper prefix of a stop string, or an unfinished rune.
func (s *Stream) holdback() int {
	p := s.pending
	hold := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(p)); n > hold; n-- {
			if strings.HasSuffix(p, st[:n]) {
				hold = n
				break
			}
		}
	}
	// An unfinished rune: the last rune start within the final 3 bytes whose
	// sequence is not yet complete.
	for back := 1; back <= 3 && back <= len(p); back++ {
		b := p[len(p)-back]
		if utf8.RuneStart(b) {
			if !utf8.FullRuneInString(p[len(p)-back:]) && back > hold {
				hold = back
			}
			break
		}
	}
	return hold
}

// Flush returns whatever is still held back, for when generation ends
// without a stop string (EOS or max tokens).
func (s *Stream) Flush() string {
	d := s.pending
	s.pending = ""
	s.emitted.WriteString(d)
	return d
}

// Text is everything emitted so far.
func (s *Stream) Text() string { return s.emitted.String() }

// Stopped reports whether a stop string ended the stream.
func (s *Stream) Stopped() bool { return s.stopped }
