package gateway

import (
	"context"
	"strings"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/schema"
	"github.com/loomhq/loom/queue"
)

// checkAgainstSpec refuses, with 400, a job that breaks what its model's
// manifest declares for its task: params that fail the task's JSON Schema
// (any job, whoever built the params), and — when the manifest declares the
// task's inputs — an input it does not name, one whose MIME type does not
// fit, or a required one missing. A model the index does not know (a lane
// with no live worker) or a schema the gateway cannot check is left to the
// plugin, which checks again.
func (s *Server) checkAgainstSpec(ctx context.Context, job *queue.Job) error {
	models, _, err := s.models.snapshot(ctx, false)
	if err != nil {
		return err
	}
	e := models[job.Model]
	if e == nil {
		return nil
	}
	sp := e.Specs[job.Task]
	if sp == nil {
		return nil
	}
	if sp.schema != nil {
		if err := sp.schema.Validate(job.Params); err != nil {
			e := badRequest("params: %v (GET /v1/models/%s lists the params of %s)", err, job.Model, job.Task)
			e.Param = schema.FieldOf(err) // "" leaves it to the message (paramOf)
			return e
		}
	}
	if !sp.declared {
		return nil
	}
	seen := map[string]int{}
	for _, in := range job.Inputs {
		var decl *sdk.InputSpec
		for i := range sp.Inputs {
			if sp.Inputs[i].Name == in.Name {
				decl = &sp.Inputs[i]
			}
		}
		switch {
		case decl == nil:
			return badRequest("inputs: %s takes no input named %q%s", job.Task, in.Name, inputNames(sp.Inputs))
		case seen[in.Name] >= max(decl.Max, 1):
			return badRequest("inputs: %q sent %d times; %s takes at most %d", in.Name, seen[in.Name]+1, job.Task, max(decl.Max, 1))
		case !sdk.MatchMIME(decl.MIME, in.MIME):
			return badRequest("inputs: %q is %s; %s wants %s", in.Name, in.MIME, job.Task, decl.MIME)
		}
		seen[in.Name]++
	}
	for _, d := range sp.Inputs {
		if d.Required && seen[d.Name] == 0 {
			return badRequest("inputs: %s needs an input named %q (%s)", job.Task, d.Name, d.MIME)
		}
	}
	return nil
}

func inputNames(ins []sdk.InputSpec) string {
	if len(ins) == 0 {
		return " (it takes none)"
	}
	names := make([]string, len(ins))
	for i, in := range ins {
		names[i] = in.Name
	}
	return " (it takes " + strings.Join(names, ", ") + ")"
}
