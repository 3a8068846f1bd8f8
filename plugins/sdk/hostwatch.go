package sdk

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/stats"
)

// A plugin must not outlive its host. On Linux the host asks for a
// parent-death signal (plugins/host), which ends the plugin the moment the
// host dies, even by kill -9. These two watches are the fallback on every
// system, and for hosts that do not ask: Serve exits when the process that
// started it is gone (its parent changes: it was re-parented), or when the
// host's gRPC connection has closed and none replaced it within a grace.

// hostGoneGrace is how long a plugin waits, with no connection from its
// host, before it concludes the host is gone.
const hostGoneGrace = 5 * time.Second

// parentPoll is how often Serve checks its parent.
const parentPoll = time.Second

// watchParent calls gone once getppid no longer answers the parent the
// plugin started with. A process whose parent is already init (1) or
// unknown (0) has nothing to watch.
func watchParent(ctx context.Context, every time.Duration, getppid func() int, gone func(reason string)) {
	ppid := getppid()
	if ppid <= 1 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if getppid() != ppid {
				gone("the host process that started this plugin has exited")
				return
			}
		}
	}
}

// connWatch is a gRPC stats handler counting the server's open
// connections: once the host has connected, a count back at zero for grace
// calls gone. go-plugin's host keeps one connection for the plugin's life,
// so zero means the host closed it or died.
type connWatch struct {
	grace time.Duration
	gone  func(reason string)

	mu    sync.Mutex
	conns int
	epoch int // bumped by each change, so a stale timer does nothing
}

func (w *connWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (w *connWatch) HandleRPC(context.Context, stats.RPCStats)                         {}
func (w *connWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (w *connWatch) HandleConn(_ context.Context, s stats.ConnStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch s.(type) {
	case *stats.ConnBegin:
		w.conns++
	case *stats.ConnEnd:
		w.conns--
	default:
		return
	}
	w.epoch++
	if w.conns > 0 {
		return
	}
	epoch := w.epoch
	time.AfterFunc(w.grace, func() {
		w.mu.Lock()
		stale := w.epoch != epoch
		w.mu.Unlock()
		if !stale {
			w.gone("the host's connection closed and none replaced it")
		}
	})
}
