package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
)

// Client adapts the loom.plugin.v1 Plugin service to an Engine. It runs in
// the host: artifact chunks are reassembled into one EventArtifact, error
// events come back as *Error with their code intact, cancelling ctx cancels
// the stream (and so the job in the plugin), and a broken connection is
// reported as *Error{Code: CodePluginCrashed}.
type Client struct {
	rpc pluginv1.PluginClient
}

var (
	_ Engine        = (*Client)(nil)
	_ HealthChecker = (*Client)(nil)
	_ Unloader      = (*Client)(nil)
)

// NewClient returns the Engine for a connected plugin service.
func NewClient(rpc pluginv1.PluginClient) *Client { return &Client{rpc: rpc} }

// Describe implements Engine.
func (c *Client) Describe(ctx context.Context) (Manifest, error) {
	resp, err := c.rpc.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		return Manifest{}, rpcError(ctx, "describe", err)
	}
	if pe := resp.GetError(); pe != nil {
		return Manifest{}, errorFromProto(pe)
	}
	return manifestFromProto(resp.GetManifest()), nil
}

// Health implements HealthChecker: nil when the plugin answers and says ok.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.rpc.Health(ctx, &pluginv1.HealthRequest{})
	if err != nil {
		return rpcError(ctx, "health", err)
	}
	if !resp.GetOk() {
		return fmt.Errorf("plugin unhealthy: %s", resp.GetDetail())
	}
	return nil
}

// Unload implements Unloader. A plugin that cannot unload (none of its
// engines is an Unloader, or it predates the RPC) answers
// ErrUnloadUnsupported.
func (c *Client) Unload(ctx context.Context, model string) error {
	resp, err := c.rpc.Unload(ctx, &pluginv1.UnloadRequest{Model: model})
	if status.Code(err) == codes.Unimplemented {
		return ErrUnloadUnsupported
	}
	if err != nil {
		return rpcError(ctx, "unload", err)
	}
	if pe := resp.GetError(); pe != nil {
		return errorFromProto(pe)
	}
	return nil
}

// Run implements Engine. It returns ctx.Err() when ctx ends first, the
// emit error when emit fails (the plugin's job is then cancelled), or the
// plugin's *Error.
func (c *Client) Run(ctx context.Context, job Job, emit func(Event) error) error {
	// Returning for any reason (emit failed, protocol error) must stop the
	// job in the plugin: cancelling the call's context does that.
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Run(callCtx, jobToProto(job))
	if err != nil {
		return rpcError(ctx, "run", err)
	}
	var art artifactAssembler
	for {
		pe, err := stream.Recv()
		if err == io.EOF {
			// The server adapter always ends with a result or an error, so
			// a bare end means the plugin is not speaking the protocol.
			return Errorf(CodeInternal, "plugin ended job %s without a result or an error", job.ID)
		}
		if err != nil {
			return rpcError(ctx, "run", err)
		}
		if ch := pe.GetArtifactChunk(); ch != nil {
			ev, done, err := art.add(ch)
			if err != nil {
				return err
			}
			if done {
				if err := emit(ev); err != nil {
					return err
				}
			}
			continue
		}
		if art.open {
			return Errorf(CodeInternal, "plugin interrupted artifact %q with another event", art.name)
		}
		var ev Event
		switch e := pe.GetEvent().(type) {
		case *pluginv1.RunEvent_Progress:
			ev = Event{Kind: EventProgress, Step: int(e.Progress.GetStep()), Total: int(e.Progress.GetTotal())}
		case *pluginv1.RunEvent_TextDelta:
			ev = Event{Kind: EventDelta, Text: e.TextDelta, Choice: int(pe.GetChoice())}
		case *pluginv1.RunEvent_Preview:
			ev = Event{Kind: EventPreview, MIME: e.Preview.GetMime(), Data: e.Preview.GetData()}
		case *pluginv1.RunEvent_Result:
			if err := emit(Event{Kind: EventResult, Result: rawJSON(e.Result.GetJson())}); err != nil {
				return err
			}
			return nil
		case *pluginv1.RunEvent_Error:
			return errorFromProto(e.Error)
		default:
			// A newer plugin may send events this host does not know;
			// skipping them keeps v1 extensible by addition.
			continue
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
}

// rpcError turns a transport failure into the contract's terms.
func rpcError(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr // the caller cancelled or its deadline passed
	}
	st, ok := status.FromError(err)
	if !ok {
		return Errorf(CodeInternal, "plugin %s: %v", op, err)
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled, codes.Aborted:
		// Not cancelled by us, so the other end went away: the process died
		// or closed the connection.
		return Errorf(CodePluginCrashed, "plugin %s: connection lost: %s", op, st.Message())
	case codes.ResourceExhausted:
		return Errorf(CodeInvalidRequest, "plugin %s: message over the %d MiB limit: %s", op, MaxMessageBytes>>20, st.Message())
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	default:
		return Errorf(CodeInternal, "plugin %s: %s: %s", op, st.Code(), st.Message())
	}
}

// artifactAssembler joins the ArtifactChunk pieces of one artifact.
type artifactAssembler struct {
	open bool
	name string
	mime string
	data []byte
}

// add takes the next piece; done is true (and ev the whole artifact) when
// it was the last one.
func (a *artifactAssembler) add(ch *pluginv1.ArtifactChunk) (ev Event, done bool, err error) {
	if ch.GetName() == "" {
		return Event{}, false, Errorf(CodeInternal, "plugin sent an artifact chunk without a name")
	}
	if a.open && (ch.GetName() != a.name || ch.GetMime() != a.mime) {
		return Event{}, false, Errorf(CodeInternal, "plugin interleaved artifact %q with %q", a.name, ch.GetName())
	}
	if !a.open {
		*a = artifactAssembler{open: true, name: ch.GetName(), mime: ch.GetMime()}
	}
	if len(a.data)+len(ch.GetData()) > MaxArtifactBytes {
		return Event{}, false, Errorf(CodeInternal, "plugin artifact %q exceeds %d bytes", a.name, int64(MaxArtifactBytes))
	}
	a.data = append(a.data, ch.GetData()...)
	if !ch.GetLast() {
		return Event{}, false, nil
	}
	ev = Event{Kind: EventArtifact, Name: a.name, MIME: a.mime, Data: a.data}
	if ev.Data == nil {
		ev.Data = []byte{}
	}
	*a = artifactAssembler{}
	return ev, true, nil
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
