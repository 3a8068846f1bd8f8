package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/loomhq/loom/queue"
)

// runJobs pushes n jobs through q: enqueue, lease, deltas text events each
// (as a text job streams its tokens), then a result carrying arts.
func runJobs(t *testing.T, q queue.Queue, n, deltas int, arts ...queue.Blob) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range n {
		st, _, err := q.Enqueue(ctx, queue.Job{Task: "t", Params: json.RawMessage(`{"prompt":"Once upon a time"}`)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := q.Dequeue(ctx, "w", []queue.Lane{{Task: "t"}})
		if err != nil {
			t.Fatal(err)
		}
		for d := range deltas {
			if err := q.Publish(ctx, l, queue.EventDelta, map[string]string{"text": fmt.Sprintf(" tok%d", d)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Complete(ctx, l, queue.Result{Output: json.RawMessage(`{"text":"…"}`), Artifacts: arts}); err != nil {
			t.Fatal(err)
		}
		ids[i] = st.Job.ID
	}
	return ids
}

func found(q queue.Queue, ids []string) int {
	n := 0
	for _, id := range ids {
		if _, err := q.Get(context.Background(), id); err == nil {
			n++
		}
	}
	return n
}

// Issue 17 item 7: the in-process queue kept every finished job for the
// 24 h TTL, so its memory grew with traffic (29 → 93 MB over 1,040
// requests). By default it keeps at most 10,000 finished jobs, dropping the
// oldest first.
func TestMemoryKeepsAtMostMaxFinished(t *testing.T) {
	q := queue.NewMemory(queue.Options{})
	defer q.Close()
	ids := runJobs(t, q, 10_050, 0)
	if n := found(q, ids[:50]); n != 0 {
		t.Fatalf("%d of the 50 oldest finished jobs still kept, want 0", n)
	}
	if n := found(q, ids[50:]); n != 10_000 {
		t.Fatalf("%d of the newest 10,000 kept", n)
	}
}

// The byte cap: what the queue holds stays under it however many jobs pass
// through, and it counts what a text job really holds (its token events).
func TestMemoryRetentionPlateaus(t *testing.T) {
	q := queue.NewMemory(queue.Options{MaxFinishedBytes: 4 << 20})
	defer q.Close()
	runJobs(t, q, 1500, 100)
	n1, mem1, _ := q.Retained()
	ids := runJobs(t, q, 3000, 100)
	n2, mem2, _ := q.Retained()
	if mem1 > 4<<20 || mem2 > 4<<20 || n1 != n2 {
		t.Fatalf("after 1,500 jobs %d kept in %d KiB, after 4,500 %d in %d KiB: want the same count under 4 MiB", n1, mem1>>10, n2, mem2>>10)
	}
	// 100 events a job cost at least 100 Event structs: ~10 KiB.
	if per := mem2 / int64(n2); per < 8<<10 || per > 32<<10 {
		t.Fatalf("%d bytes counted per job with 100 events", per)
	}
	if found(q, ids) != n2 || found(q, ids[len(ids)-1:]) != 1 {
		t.Fatalf("want the newest %d jobs kept", n2)
	}
}

// Large artifacts live in files, read back by Get; dropping the job (or
// the spill cap) removes them.
func TestMemorySpillsLargeArtifacts(t *testing.T) {
	dir := t.TempDir()
	q := queue.NewMemory(queue.Options{SpillBytes: 1 << 10, SpillDir: dir, MaxSpillBytes: 25 << 10})
	defer q.Close()
	big := bytes.Repeat([]byte("frame"), 2048) // 10 KiB
	arts := []queue.Blob{{Name: "video.mp4", MIME: "video/mp4", Data: big}, {Name: "poster.txt", MIME: "text/plain", Data: []byte("small")}}
	ids := runJobs(t, q, 1, 0, arts...)
	files, _ := os.ReadDir(dir)
	if len(files) != 1 || !strings.HasPrefix(files[0].Name(), ids[0]) {
		t.Fatalf("spill folder holds %v, want one file of job %s", files, ids[0])
	}
	st, err := q.Get(context.Background(), ids[0])
	if err != nil || len(st.Result.Artifacts) != 2 || !bytes.Equal(st.Result.Artifacts[0].Data, big) || string(st.Result.Artifacts[1].Data) != "small" {
		t.Fatalf("spilled job read back: %+v %v", st, err)
	}
	evs, _ := q.Events(context.Background(), ids[0], 0, 0)
	if last := evs[len(evs)-1]; !strings.Contains(string(last.Data), `"size":10240`) {
		t.Fatalf("result event %s", last.Data)
	}
	// Two more 10 KiB jobs pass the 25 KiB spill cap: the first is dropped.
	runJobs(t, q, 2, 0, arts...)
	if _, err := q.Get(context.Background(), ids[0]); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("oldest spilled job after the cap: %v, want ErrNotFound", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Fatalf("%d spill files, want the 2 kept jobs'", len(files))
	}
}
