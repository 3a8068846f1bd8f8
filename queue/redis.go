package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the durable queue on Redis Streams (key layout in redis_lua.go):
// one stream per lane (task and model) and priority read by the consumer
// group "loom",
// XREADGROUP to deliver, XAUTOCLAIM to take over the entries of workers that
// stopped heartbeating, a hash and a capped event stream per job, PEXPIRE on
// finished jobs. Every transition is one Lua script. Any number of gateways
// and workers share one Redis; a worker, gateway or Redis restart loses no
// job that Redis kept (the client reconnects and consumer groups are created
// again when missing).
//
// Payloads live in the job hash: inputs and results are each bounded by
// MaxPayloadBytes (64 MiB).
//
// Blocking reads (Dequeue, Events) block in Redis for at most blockSlice at
// a time and check their context between slices, so shutdown never waits
// on a blocked connection for long.
type Redis struct {
	c *redis.Client
	// waits is the client of the blocking reads (Dequeue's BLPOP, Events'
	// XREAD BLOCK): a second pool that honours context deadlines
	// (ContextTimeoutEnabled), so one blocked read that Redis does not answer
	// in time costs its slice plus blockGrace, not go-redis's read timeout
	// (3s, or Block+10s for XREAD), and a canceled context ends it at once.
	waits *redis.Client
	opts  Options
	group string
	turn  atomic.Uint64 // Dequeue calls so far: where the next one starts among its lanes
}

var _ Queue = (*Redis)(nil)

// blockSlice is the longest one blocking Redis call lasts.
const blockSlice = 250 * time.Millisecond

// blockGrace is how long past its timeout a blocking read may go unanswered
// before the wait gives it up and checks the queue again.
const blockGrace = time.Second

// NewRedis connects to url (redis://[user:pass@]host:port/db, options as
// go-redis ParseURL reads them, e.g. ?pool_size=64) and checks it answers.
// It opens two pools with those options, one for commands and one for the
// blocking waits, so pool_size bounds each: up to twice it in all.
func NewRedis(ctx context.Context, url string, opts Options) (*Redis, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis queue: %w", err)
	}
	c := redis.NewClient(ro)
	c.AddHook(unavailableHook{})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis queue: ping %s: %w", ro.Addr, err)
	}
	wo := *ro
	wo.ContextTimeoutEnabled = true
	w := redis.NewClient(&wo)
	w.AddHook(unavailableHook{})
	return &Redis{c: c, waits: w, opts: opts.WithDefaults(), group: "loom"}, nil
}

// Options are the queue's options with defaults filled in.
func (r *Redis) Options() Options { return r.opts }

// Client is the underlying go-redis client (health checks, tests).
func (r *Redis) Client() *redis.Client { return r.c }

func (r *Redis) Close() error { return errors.Join(r.c.Close(), r.waits.Close()) }

// unavailableHook marks the errors of reaching Redis (a refused or dropped
// connection, a pool timeout, a server still loading its data or without a
// primary) with ErrUnavailable, so callers can answer "try again later"
// instead of "internal error". Errors Redis replies with otherwise (NOSCRIPT,
// WRONGTYPE, …), redis.Nil and the caller's own context pass unchanged.
type unavailableHook struct{}

func (unavailableHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (unavailableHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if unreachable(err) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			cmd.SetErr(err)
		}
		return err
	}
}

func (unavailableHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if unreachable(cmd.Err()) {
				cmd.SetErr(fmt.Errorf("%w: %w", ErrUnavailable, cmd.Err()))
			}
		}
		if unreachable(err) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
}

// unreachable tells a failure to reach Redis from every other error.
func unreachable(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrUnavailable), errors.Is(err, redis.Nil), errors.Is(err, redis.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		// Replies that mean "this server cannot serve now", not "bad call".
		for _, p := range []string{"LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN ", "READONLY "} {
			if strings.HasPrefix(re.Error(), p) {
				return true
			}
		}
		return false
	}
	return true // the network: refused, reset, EOF, i/o timeout, pool timeout
}

func (r *Redis) jobKey(id string) string { return r.opts.Prefix + "job:" + id }
func (r *Redis) evKey(id string) string  { return r.opts.Prefix + "ev:" + id }
func (r *Redis) wakeKey(l Lane) string   { return r.opts.Prefix + "wake:" + laneMember(l) }
func (r *Redis) lanesKey() string        { return r.opts.Prefix + "lanes" }
func (r *Redis) deadlinesKey() string    { return r.opts.Prefix + "deadlines" }
func (r *Redis) idemKey(k string) string { return r.opts.Prefix + "idem:" + k }
func (r *Redis) listKey(task, owner string) string {
	return r.opts.Prefix + "idx:" + task + ":" + owner
}
func (r *Redis) workerKey(w string) string { return r.opts.Prefix + "worker:" + w }
func (r *Redis) workersKey() string        { return r.opts.Prefix + "workers" }

// laneMember is a lane's name in the lanes set and in its keys.
func laneMember(l Lane) string { return l.Task + ":" + l.Model }

func (r *Redis) streamKey(l Lane, p Priority) string {
	if p == PriorityHigh {
		return r.opts.Prefix + "q:" + laneMember(l) + ":high"
	}
	return r.opts.Prefix + "q:" + laneMember(l) + ":normal"
}

func (r *Redis) jobStream(j *Job) string { return r.streamKey(j.Lane(), j.Priority) }

func (r *Redis) now() (string, time.Time) {
	t := r.opts.Now()
	return t.UTC().Format(time.RFC3339Nano), t
}

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

func (r *Redis) Enqueue(ctx context.Context, job Job) (*JobState, bool, error) {
	if err := job.validate(); err != nil {
		return nil, false, err
	}
	if job.ID == "" {
		job.ID = NewID()
	}
	raw, err := json.Marshal(job)
	if err != nil {
		return nil, false, fmt.Errorf("enqueue: %w", err)
	}
	now, nowT := r.now()
	deadline := ""
	if !job.Deadline.IsZero() {
		deadline = strconv.FormatInt(job.Deadline.UnixMilli(), 10)
	}
	useIdem, idem := "0", r.idemKey("")
	if job.IdempotencyKey != "" {
		useIdem, idem = "1", r.idemKey(job.IdempotencyKey)
	}
	owner := ""
	if job.Owner != "" {
		owner = r.opts.Prefix + "owner:" + job.Owner
	}
	keys := []string{r.jobKey(job.ID), r.evKey(job.ID), r.jobStream(&job), r.wakeKey(job.Lane()), idem,
		r.lanesKey(), r.deadlinesKey(), owner, r.listKey(job.Task, job.Owner)}
	res, err := luaEnqueue().Run(ctx, r.c, keys, job.ID, raw, now, r.opts.MaxDepth, ms(r.opts.ResultTTL),
		r.opts.MaxEvents, []byte(queuedData(&job)), useIdem, job.maxAttempts(&r.opts), r.group, deadline,
		laneMember(job.Lane()), r.opts.Prefix, job.Task, job.OwnerLimit, nowT.UnixMilli()).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("enqueue %s: %w", job.Task, err)
	}
	switch res[0] {
	case "existed":
		st, err := r.Get(ctx, res[1].(string))
		if err != nil {
			return nil, false, fmt.Errorf("enqueue: idempotency key %q: %w", job.IdempotencyKey, err)
		}
		return st, true, nil
	case "dup":
		return nil, false, fmt.Errorf("enqueue: job id %q already exists", job.ID)
	case "full":
		return nil, false, &FullError{Task: job.Task, Depth: int(res[1].(int64)), RetryAfter: r.opts.RetryAfter}
	case "limit":
		return nil, false, &LimitError{Owner: job.Owner, Limit: job.OwnerLimit, RetryAfter: r.opts.RetryAfter}
	}
	st, err := r.Get(ctx, job.ID)
	return st, false, err
}

func (r *Redis) Get(ctx context.Context, id string) (*JobState, error) {
	h, err := r.c.HGetAll(ctx, r.jobKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	if len(h) == 0 || h["job"] == "" {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return decodeState(id, h)
}

func decodeState(id string, h map[string]string) (*JobState, error) {
	st := &JobState{Status: Status(h["status"]), Worker: h["worker"]}
	bad := func(field string, err error) (*JobState, error) {
		return nil, fmt.Errorf("job %s: field %s: %w", id, field, err)
	}
	if err := json.Unmarshal([]byte(h["job"]), &st.Job); err != nil {
		return bad("job", err)
	}
	var err error
	if st.Attempt, err = strconv.Atoi(cmp.Or(h["attempt"], "0")); err != nil {
		return bad("attempt", err)
	}
	if e := h["error"]; e != "" {
		st.Error = &JobError{}
		if err := json.Unmarshal([]byte(e), st.Error); err != nil {
			return bad("error", err)
		}
	}
	if res := h["result"]; res != "" {
		st.Result = &Result{}
		if err := json.Unmarshal([]byte(res), st.Result); err != nil {
			return bad("result", err)
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"created", &st.CreatedAt}, {"started", &st.StartedAt}, {"finished", &st.FinishedAt}} {
		if v := h[f.name]; v != "" {
			if *f.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return bad(f.name, err)
			}
		}
	}
	return st, nil
}

func (r *Redis) Cancel(ctx context.Context, id string) (*JobState, error) {
	now, _ := r.now()
	prev, err := luaCancel().Run(ctx, r.c, []string{r.jobKey(id), r.evKey(id)},
		now, r.opts.MaxEvents, ms(r.opts.ResultTTL), r.group).Text()
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", id, err)
	}
	if prev == "" {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return r.Get(ctx, id)
}

// List walks the task and owner's index (a zset by creation time in ms;
// equal times order by id, as Redis orders equal scores) from the cursor,
// reading each job's hash; members whose job expired are dropped on the way.
func (r *Redis) List(ctx context.Context, lq ListQuery) ([]*JobState, bool, error) {
	if err := lq.validate(); err != nil {
		return nil, false, err
	}
	key := r.listKey(lq.Task, lq.Owner)
	var start int64
	if lq.After != "" {
		rank := r.c.ZRank
		if lq.Desc {
			rank = r.c.ZRevRank
		}
		i, err := rank(ctx, key, lq.After).Result()
		if errors.Is(err, redis.Nil) {
			return nil, false, fmt.Errorf("list after %s: %w", lq.After, ErrNotFound)
		}
		if err != nil {
			return nil, false, fmt.Errorf("list: %w", err)
		}
		start = i + 1
	}
	var out []*JobState
	for len(out) <= lq.Limit {
		batch := int64(lq.Limit + 1 - len(out))
		ids, err := r.c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: start, Stop: start + batch - 1, Rev: lq.Desc}).Result()
		if err != nil {
			return nil, false, fmt.Errorf("list: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		start += int64(len(ids))
		for _, id := range ids {
			st, err := r.Get(ctx, id)
			if errors.Is(err, ErrNotFound) {
				// Expired: drop it; the ranks after it shift down by one.
				if n, err := r.c.ZRem(ctx, key, id).Result(); err == nil && n == 1 {
					start--
				}
				continue
			}
			if err != nil {
				return nil, false, err
			}
			out = append(out, st)
		}
	}
	more := len(out) > lq.Limit
	return out[:min(len(out), lq.Limit)], more, nil
}

func (r *Redis) Delete(ctx context.Context, id string) error {
	if _, err := r.Cancel(ctx, id); err != nil {
		return err
	}
	n, err := luaDelete().Run(ctx, r.c, []string{r.jobKey(id), r.evKey(id), r.deadlinesKey()}, r.opts.Prefix, id).Int()
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return nil
}

func (r *Redis) Events(ctx context.Context, id string, after int64, wait time.Duration) ([]Event, error) {
	deadline := time.Now().Add(wait)
	key := r.evKey(id)
	for {
		status, err := r.c.HGet(ctx, r.jobKey(id), "status").Result()
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("events %s: %w", id, err)
		}
		msgs, err := r.c.XRange(ctx, key, strconv.FormatInt(after+1, 10)+"-0", "+").Result()
		if err != nil {
			return nil, fmt.Errorf("events %s: %w", id, err)
		}
		if len(msgs) > 0 || wait <= 0 || Status(status).Terminal() {
			return decodeEvents(id, msgs)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		// XREAD from an explicit id has no gap: whatever was added since the
		// XRANGE above is returned at once. It only wakes this loop (the
		// XRANGE answers), so a read Redis leaves unanswered past its slice
		// and blockGrace is dropped and the stream checked again.
		slice := min(left, blockSlice)
		var streams []redis.XStream
		stalled, err := r.blockingRead(ctx, slice, func(ctx context.Context) (err error) {
			streams, err = r.waits.XRead(ctx, &redis.XReadArgs{
				Streams: []string{key, strconv.FormatInt(after, 10) + "-0"},
				Block:   slice,
			}).Result()
			return err
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if stalled {
				continue
			}
			return nil, fmt.Errorf("events %s: %w", id, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if len(streams) > 0 && len(streams[0].Messages) > 0 {
			return decodeEvents(id, streams[0].Messages)
		}
	}
}

func decodeEvents(id string, msgs []redis.XMessage) ([]Event, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		seqStr, _, _ := strings.Cut(m.ID, "-")
		seq, err := strconv.ParseInt(seqStr, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("events %s: entry id %q: %w", id, m.ID, err)
		}
		e := Event{Seq: seq}
		e.Type, _ = m.Values["type"].(string)
		ts, _ := m.Values["time"].(string)
		if e.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return nil, fmt.Errorf("events %s: seq %d: %w", id, seq, err)
		}
		if d, _ := m.Values["data"].(string); d != "" {
			e.Data = json.RawMessage(d)
		}
		out = append(out, e)
	}
	return out, nil
}

func (r *Redis) Depth(ctx context.Context, task string) (int, error) {
	n, err := luaDepth().Run(ctx, r.c, []string{r.lanesKey()}, r.group, r.opts.Prefix, task).Int()
	if err != nil {
		return 0, fmt.Errorf("depth %s: %w", task, err)
	}
	return n, nil
}

func (r *Redis) Lanes(ctx context.Context) ([]LaneStats, error) {
	now, t := r.now()
	res, err := luaLanes().Run(ctx, r.c, []string{r.lanesKey(), r.deadlinesKey()}, r.group, r.opts.Prefix,
		now, t.UnixMilli(), r.opts.MaxEvents, ms(r.opts.ResultTTL)).Slice()
	if err != nil {
		return nil, fmt.Errorf("lanes: %w", err)
	}
	out := make([]LaneStats, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		member, _ := res[i].(string)
		task, model, _ := strings.Cut(member, ":")
		depth, _ := res[i+1].(int64)
		age, _ := res[i+2].(int64)
		out = append(out, LaneStats{Task: task, Model: model, Depth: int(depth), Oldest: time.Duration(age) * time.Millisecond})
	}
	slices.SortFunc(out, func(a, b LaneStats) int { return cmp.Or(cmp.Compare(a.Task, b.Task), cmp.Compare(a.Model, b.Model)) })
	return out, nil
}

func (r *Redis) Dequeue(ctx context.Context, worker string, lanes []Lane) (*Lease, error) {
	if err := checkLanes(worker, lanes); err != nil {
		return nil, err
	}
	keys := make([]string, 0, 1+2*len(lanes))
	keys = append(keys, r.deadlinesKey())
	args := []any{r.group, worker, ms(r.opts.LeaseDuration), "", "", r.opts.MaxEvents, ms(r.opts.ResultTTL),
		r.opts.Prefix, "", ms(r.opts.ColdDelay), int((r.turn.Add(1) - 1) % uint64(len(lanes)))}
	// Lapsed leases are only noticed by polling, so idle waits are short
	// enough to catch them within a fraction of the lease.
	block := min(blockSlice, max(r.opts.LeaseDuration/4, 10*time.Millisecond))
	blpop := []any{"blpop"}
	for _, l := range lanes {
		keys = append(keys, r.streamKey(l, PriorityHigh), r.streamKey(l, PriorityNormal))
		cold := "0"
		if l.Cold {
			cold = "1"
		}
		args = append(args, cold)
		blpop = append(blpop, r.wakeKey(l))
	}
	blpop = append(blpop, strconv.FormatFloat(block.Seconds(), 'f', 3, 64))
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now, t := r.now()
		args[3], args[4], args[8] = now, t.UnixMilli(), NewID()
		res, err := luaDequeue().Run(ctx, r.c, keys, args...).Slice()
		wait := block
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("dequeue %v: %w", lanes, err)
		case res[0] == "wait":
			if cold, _ := res[1].(int64); cold > 0 {
				wait = min(wait, time.Duration(cold)*time.Millisecond)
			}
		default:
			l := &Lease{Worker: worker}
			if err := json.Unmarshal([]byte(res[0].(string)), &l.Job); err != nil {
				return nil, fmt.Errorf("dequeue: job record: %w", err)
			}
			l.Attempt = int(res[1].(int64))
			l.Token = res[2].(string)
			l.MaxAttempts = l.Job.maxAttempts(&r.opts) // what Enqueue stored as the job's 'max'
			return l, nil
		}
		// Wait for an enqueue's wake token (or the slice to pass, or a cold
		// lane's job to come of age). Not c.BLPop: it rounds timeouts up to
		// whole seconds.
		wait = max(wait, 10*time.Millisecond)
		blpop[len(blpop)-1] = strconv.FormatFloat(wait.Seconds(), 'f', 3, 64)
		stalled, err := r.blockingRead(ctx, wait, func(ctx context.Context) error {
			return r.waits.Do(ctx, blpop...).Err()
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if stalled { // unanswered past its time: look again at once
				continue
			}
			// Redis may be restarting: pause a little rather than spin.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(block):
			}
		}
	}
}

// blockingRead runs read, a blocking command of at most d on the waits
// client, under a deadline of d + blockGrace; stalled says that deadline, not
// Redis or ctx, ended it.
func (r *Redis) blockingRead(ctx context.Context, d time.Duration, read func(context.Context) error) (stalled bool, err error) {
	deadline := time.Now().Add(d + blockGrace)
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err = read(rctx)
	// By the clock, not rctx.Err(): the connection's read deadline (the
	// same instant) can pass before the context's timer has fired.
	return err != nil && ctx.Err() == nil && !time.Now().Before(deadline), err
}

// leaseResult turns a script's answer into the Queue's errors.
func leaseResult(op string, l *Lease, st string, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, l.Job.ID, err)
	}
	switch st {
	case "ok":
		return nil
	case "canceled":
		return fmt.Errorf("%s %s: %w", op, l.Job.ID, ErrCanceled)
	default:
		return fmt.Errorf("%s %s attempt %d: %w", op, l.Job.ID, l.Attempt, ErrLeaseLost)
	}
}

func (r *Redis) Heartbeat(ctx context.Context, l *Lease) error {
	st, err := luaHeartbeat().Run(ctx, r.c, []string{r.jobKey(l.Job.ID), r.jobStream(&l.Job)},
		l.Token, r.group, l.Worker).Text()
	return leaseResult("heartbeat", l, st, err)
}

func (r *Redis) Publish(ctx context.Context, l *Lease, typ string, data any) error {
	if err := checkPublish(typ); err != nil {
		return err
	}
	raw, err := eventData(data)
	if err != nil {
		return err
	}
	now, _ := r.now()
	st, err := luaPublish().Run(ctx, r.c, []string{r.jobKey(l.Job.ID), r.evKey(l.Job.ID)},
		l.Token, typ, []byte(raw), now, r.opts.MaxEvents).Text()
	return leaseResult("publish", l, st, err)
}

func (r *Redis) Complete(ctx context.Context, l *Lease, res Result) error {
	if n := res.Size(); n > MaxPayloadBytes {
		return fmt.Errorf("complete %s: result of %d bytes: %w (limit %d)", l.Job.ID, n, ErrTooLarge, MaxPayloadBytes)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("complete %s: %w", l.Job.ID, err)
	}
	now, _ := r.now()
	st, err := luaComplete().Run(ctx, r.c,
		[]string{r.jobKey(l.Job.ID), r.evKey(l.Job.ID), r.jobStream(&l.Job)},
		l.Token, raw, now, r.opts.MaxEvents, ms(r.opts.ResultTTL), r.group, []byte(resultData(&res))).Text()
	return leaseResult("complete", l, st, err)
}

func (r *Redis) endAttempt(ctx context.Context, op string, l *Lease, jerr *JobError, requeue, release bool, retryEv []byte) error {
	now, _ := r.now()
	var errJSON []byte
	if jerr != nil {
		errJSON = errorData(jerr)
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	st, err := luaEndAttempt().Run(ctx, r.c,
		[]string{r.jobKey(l.Job.ID), r.evKey(l.Job.ID), r.jobStream(&l.Job), r.wakeKey(l.Job.Lane())},
		l.Token, errJSON, flag(requeue), now, r.opts.MaxEvents, ms(r.opts.ResultTTL), r.group, retryEv,
		flag(release), l.Job.ID).Text()
	return leaseResult(op, l, st, err)
}

func (r *Redis) Fail(ctx context.Context, l *Lease, jerr JobError, retry bool) error {
	return r.endAttempt(ctx, "fail", l, &jerr, retry, false, retryData(l.Attempt, RetryFailed, &jerr))
}

func (r *Redis) Release(ctx context.Context, l *Lease) error {
	return r.endAttempt(ctx, "release", l, nil, true, true, retryData(l.Attempt, RetryReleased, nil))
}

func (r *Redis) Register(ctx context.Context, w WorkerInfo) error {
	if w.ID == "" {
		return fmt.Errorf("register: worker has no id")
	}
	_, t := r.now()
	w.SeenAt = t
	raw, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("register %s: %w", w.ID, err)
	}
	var lanes []any
	for _, l := range w.Lanes() {
		if checkLane(l) == nil {
			lanes = append(lanes, laneMember(l))
		}
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.workerKey(w.ID), raw, r.opts.WorkerTTL)
		p.ZAdd(ctx, r.workersKey(), redis.Z{Score: float64(t.Add(r.opts.WorkerTTL).UnixMilli()), Member: w.ID})
		if len(lanes) > 0 {
			p.SAdd(ctx, r.lanesKey(), lanes...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("register %s: %w", w.ID, err)
	}
	return nil
}

func (r *Redis) Workers(ctx context.Context) ([]WorkerInfo, error) {
	_, t := r.now()
	zkey := r.workersKey()
	if err := r.c.ZRemRangeByScore(ctx, zkey, "-inf", strconv.FormatInt(t.UnixMilli(), 10)).Err(); err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	ids, err := r.c.ZRange(ctx, zkey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	out := []WorkerInfo{}
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.workerKey(id)
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // its key expired before the zset entry
		}
		var w WorkerInfo
		if err := json.Unmarshal([]byte(s), &w); err != nil {
			return nil, fmt.Errorf("workers: %s: %w", ids[i], err)
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}
