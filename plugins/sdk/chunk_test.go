package sdk

import (
	"bytes"
	"testing"

	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
)

// FuzzArtifactChunks: any artifact cut at any chunk size reassembles to the
// same bytes, and any sequence of (possibly malformed) chunks either yields
// artifacts or a clean error, never a panic.
func FuzzArtifactChunks(f *testing.F) {
	f.Add([]byte("hello"), uint16(2), []byte{0, 1, 2})
	f.Add([]byte{}, uint16(1), []byte{})
	f.Add(bytes.Repeat([]byte{7}, 1000), uint16(999), []byte{3, 3, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte, size uint16, script []byte) {
		n := int(size)%4096 + 1
		chunks := chunkArtifact("a", "m", data, n)
		if want := max(1, (len(data)+n-1)/n); len(chunks) != want {
			t.Fatalf("%d bytes at %d: %d chunks, want %d", len(data), n, len(chunks), want)
		}
		var a artifactAssembler
		for i, c := range chunks {
			if len(c.Data) > n {
				t.Fatalf("chunk %d has %d bytes > %d", i, len(c.Data), n)
			}
			ev, done, err := a.add(c)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(chunks)-1) {
				t.Fatalf("chunk %d: done = %v", i, done)
			}
			if done && (!bytes.Equal(ev.Data, data) || ev.Name != "a" || ev.MIME != "m" || ev.Kind != EventArtifact) {
				t.Fatalf("reassembled %d bytes, want %d", len(ev.Data), len(data))
			}
		}
		if a.open {
			t.Fatal("assembler still open after the last chunk")
		}

		// Malformed streams: the script picks each chunk's name and flags.
		var b artifactAssembler
		names := []string{"", "x", "y"}
		for i, op := range script {
			ch := &pluginv1.ArtifactChunk{Name: names[int(op)%3], Mime: "m", Data: data[:min(len(data), i)], Last: op&4 != 0}
			ev, done, err := b.add(ch)
			if err != nil {
				b = artifactAssembler{} // the client gives up on the job here
				continue
			}
			if done && ev.Name != ch.Name {
				t.Fatalf("artifact named %q completed by a chunk of %q", ev.Name, ch.Name)
			}
		}
	})
}
