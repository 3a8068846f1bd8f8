package main

import "testing"

// TestJoinWindowText: windows' texts meet with exactly the space the seam
// needs, and the first window loses its leading spaces.
func TestJoinWindowText(t *testing.T) {
	for _, c := range []struct{ before, d, want string }{
		{"", " Hello there.", "Hello there."},
		{"", "", ""},
		{"Hello there.", " How are you?", " How are you?"},
		{"He?", "ve?", " ve?"},
		{"Hello ", "world", "world"},
		{"Hello", "", ""},
		{"Já", "é", " é"},
		{"one\n", "two", "two"},
	} {
		if got := joinWindowText(c.before, c.d); got != c.want {
			t.Errorf("joinWindowText(%q, %q) = %q, want %q", c.before, c.d, got, c.want)
		}
	}
}
