package queue

import (
	"strings"
	"testing"
)

// TestNewIDIncreases: ids made one after another sort in the order they
// were made (List breaks ties of equal creation times by id), and stay
// distinct and 24 hex digits.
func TestNewIDIncreases(t *testing.T) {
	prev := NewID()
	seen := map[string]bool{prev: true}
	for range 20000 {
		id := NewID()
		if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q is not 24 hex digits", id)
		}
		if id <= prev || seen[id] {
			t.Fatalf("id %s after %s", id, prev)
		}
		seen[id], prev = true, id
	}
}
