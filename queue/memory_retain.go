package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"unsafe"
)

// Retention of finished jobs by the Memory queue. A finished job is kept for
// ResultTTL, but never more than MaxFinished of them nor more than
// MaxFinishedBytes of what they hold in memory: past either, the jobs that
// finished first are dropped early. Without a cap, memory grew with every
// request served (~62 KB a text job: its token events) until the TTL, a day
// later. Artifacts of SpillBytes or more live in files instead (at most
// MaxSpillBytes of them), read back when a state is handed out.

// jobCost is what keeping one finished job costs.
type jobCost struct {
	mem, disk int64
}

// retention is the Memory queue's account of its finished jobs.
type retention struct {
	order     []string // ids in the order they finished; may hold dropped ones
	n         int      // finished jobs kept
	mem, disk int64    // their costs

	dir    string // spill folder, made on first use
	ownDir bool   // made by the queue: removed by Close
}

// eventBytes is what an Event struct costs beyond its data.
const eventBytes = int64(unsafe.Sizeof(Event{}))

// retainLocked accounts for j, just finished (its terminal event appended),
// and drops the oldest finished jobs while a cap is exceeded (never j).
func (m *Memory) retainLocked(j *memJob) {
	// A finished job gets no more events: give back the slice's slack
	// (append doubles it, so up to half is unused).
	if cap(j.events) > len(j.events) {
		j.events = slices.Clone(j.events)
	}
	c := jobCost{mem: 512 + int64(len(j.st.Job.Params)) + int64(cap(j.events))*eventBytes}
	for _, b := range j.st.Job.Inputs {
		c.mem += int64(len(b.Data))
	}
	for _, e := range j.events {
		c.mem += int64(cap(e.Data))
	}
	if r := j.st.Result; r != nil {
		c.mem += int64(len(r.Output))
		for _, a := range r.Artifacts {
			if a.spill != "" {
				c.disk += a.spillSize
			} else {
				c.mem += int64(len(a.Data))
			}
		}
	}
	j.cost = c
	k := &m.kept
	k.order = append(k.order, j.st.Job.ID)
	k.n++
	k.mem += c.mem
	k.disk += c.disk
	for k.n > 1 && (k.n > m.opts.MaxFinished || k.mem > m.opts.MaxFinishedBytes || k.disk > m.opts.MaxSpillBytes) {
		id := k.order[0]
		if id == j.st.Job.ID {
			break
		}
		if old := m.jobs[id]; old == nil || !old.st.Status.Terminal() {
			k.order = k.order[1:] // dropped already, or its id reused by a new job
			continue
		}
		m.dropLocked(id)
	}
}

// dropLocked forgets a job, finished or not, and removes its files.
func (m *Memory) dropLocked(id string) {
	j := m.jobs[id]
	if j == nil {
		return
	}
	delete(m.jobs, id)
	if j.st.Status.Terminal() {
		k := &m.kept
		k.n--
		k.mem -= j.cost.mem
		k.disk -= j.cost.disk
		if j.st.Result != nil {
			removeSpilled(*j.st.Result)
		}
		// Ids of dropped jobs at the front of the order go at once, so it
		// stays the size of what is kept when the TTL does the dropping.
		for len(k.order) > 0 && m.jobs[k.order[0]] == nil {
			k.order = k.order[1:]
		}
	}
}

// spill writes res's artifacts of SpillBytes or more to files; the Result it
// returns holds their paths instead of their bytes.
func (m *Memory) spill(id string, res Result) (Result, error) {
	big := slices.IndexFunc(res.Artifacts, func(a Blob) bool { return len(a.Data) >= m.opts.SpillBytes })
	if big < 0 {
		return res, nil
	}
	dir, err := m.spillDir()
	if err != nil {
		return res, err
	}
	res.Artifacts = slices.Clone(res.Artifacts)
	for i, a := range res.Artifacts {
		if len(a.Data) < m.opts.SpillBytes {
			continue
		}
		f, err := os.CreateTemp(dir, id+"-*")
		if err == nil {
			_, err = f.Write(a.Data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				_ = os.Remove(f.Name())
			}
		}
		if err != nil {
			removeSpilled(res)
			return res, fmt.Errorf("spill artifact %s: %w", a.Name, err)
		}
		res.Artifacts[i].Data, res.Artifacts[i].spill, res.Artifacts[i].spillSize = nil, f.Name(), int64(len(a.Data))
	}
	return res, nil
}

func (m *Memory) spillDir() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := &m.kept
	if k.dir != "" {
		return k.dir, nil
	}
	if d := m.opts.SpillDir; d != "" {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
		k.dir = d
		return d, nil
	}
	d, err := os.MkdirTemp("", "loom-queue-")
	if err != nil {
		return "", err
	}
	k.dir, k.ownDir = d, true
	return d, nil
}

// removeSpilled deletes the files of res's spilled artifacts.
func removeSpilled(res Result) {
	for _, a := range res.Artifacts {
		if a.spill != "" {
			_ = os.Remove(a.spill)
		}
	}
}

// Retained reports the finished jobs the queue keeps and what they hold in
// memory and in spill files, in bytes.
func (m *Memory) Retained() (jobs int, memBytes, diskBytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kept.n, m.kept.mem, m.kept.disk
}

func (k *retention) close() {
	if k.ownDir {
		_ = os.RemoveAll(k.dir)
	}
}

// withSpilled gives a state handed out the bytes of its spilled artifacts
// (read outside the queue's lock). A file gone meanwhile means the job was
// dropped: not found.
func withSpilled(st *JobState, err error) (*JobState, error) {
	if err != nil || st.Result == nil || !slices.ContainsFunc(st.Result.Artifacts, func(a Blob) bool { return a.spill != "" }) {
		return st, err
	}
	res := *st.Result
	res.Artifacts = slices.Clone(res.Artifacts)
	for i, a := range res.Artifacts {
		if a.spill == "" {
			continue
		}
		data, err := os.ReadFile(a.spill)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("job %s: %w", st.Job.ID, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("job %s: artifact %s: %w", st.Job.ID, a.Name, err)
		}
		res.Artifacts[i].Data, res.Artifacts[i].spill, res.Artifacts[i].spillSize = data, "", 0
	}
	st.Result = &res
	return st, nil
}

func (m *Memory) Enqueue(ctx context.Context, job Job) (*JobState, bool, error) {
	st, existed, err := m.enqueue(ctx, job)
	st, err = withSpilled(st, err)
	return st, existed, err
}

func (m *Memory) Get(ctx context.Context, id string) (*JobState, error) {
	return withSpilled(m.get(ctx, id))
}

func (m *Memory) Cancel(ctx context.Context, id string) (*JobState, error) {
	return withSpilled(m.cancel(ctx, id))
}

func (m *Memory) List(ctx context.Context, lq ListQuery) ([]*JobState, bool, error) {
	sts, more, err := m.list(ctx, lq)
	if err != nil {
		return nil, false, err
	}
	for i := range sts {
		if sts[i], err = withSpilled(sts[i], nil); err != nil {
			return nil, false, err
		}
	}
	return sts, more, nil
}
