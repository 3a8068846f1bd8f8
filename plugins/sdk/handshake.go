package sdk

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
)

// ProtocolVersion is the newest plugin protocol this build speaks. It is the
// major version of the proto package (loom.plugin.v1); a breaking change adds
// a v2 set to VersionedPlugins beside v1 and go-plugin picks the highest
// version both ends know.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake shared by the host and every plugin.
// The magic cookie is not security: it stops a human running a plugin binary
// by hand from getting a confusing hang (go-plugin prints a hint instead).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "LOOM_PLUGIN",
	MagicCookieValue: "6f6f6d2d706c7567696e2d7631",
}

// PluginKey is the name the Engine is registered under in each plugin set.
const PluginKey = "engine"

// MaxMessageBytes bounds one gRPC message in either direction. gRPC's default
// is 4 MiB; job inputs (images, audio) travel inside RunRequest, so both ends
// raise receive and send limits to this explicitly. Artifacts do not depend
// on it: they are chunked.
const MaxMessageBytes = 256 << 20

// ArtifactChunkBytes is the largest data piece of one ArtifactChunk event.
const ArtifactChunkBytes = 1 << 20

// MaxArtifactBytes bounds one reassembled artifact on the host, so a runaway
// plugin cannot exhaust the worker's memory.
const MaxArtifactBytes = 4 << 30

// VersionedPlugins returns the plugin sets per protocol version. A plugin
// passes its Engine; the host passes nil (it only needs the client side).
func VersionedPlugins(impl Engine) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {PluginKey: &GRPCPlugin{Impl: impl}},
	}
}

// GRPCServerOptions are the options a plugin's gRPC server needs on top of
// go-plugin's own (message size limits).
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
	}
}

// GRPCDialOptions are the options the host dials a plugin with (message size
// limits); pass them as go-plugin's ClientConfig.GRPCDialOptions.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
	}
}

// GRPCPlugin is the go-plugin glue for protocol v1: on the plugin side it
// registers Impl as the loom.plugin.v1.Plugin service; on the host side it
// returns a *Client, which implements Engine.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Engine // plugin side only
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Engine with the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("plugins: GRPCPlugin has no engine to serve")
	}
	pluginv1.RegisterPluginServer(s, NewServer(p.Impl))
	return nil
}

// GRPCClient returns the host-side Engine for a connected plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return NewClient(pluginv1.NewPluginClient(cc)), nil
}
