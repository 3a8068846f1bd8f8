package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// maxCaptionPrompt bounds the prompt in bytes (the schema bounds characters;
// the captioners' contexts are far shorter).
const maxCaptionPrompt = 4096

// Image inputs are bounded from their header before decoding: sides, and
// what a job's images decode to together (sdk.MaxImageBytes).
var imageLimits = imgproc.Limits{MaxBytes: 16 << 20, MaxPixels: sdk.MaxImageSide * sdk.MaxImageSide, MaxDecoded: sdk.MaxImageBytes}

// captioner is one loaded towers.Captioner (a ViT + GPT-2
// VisionEncoderDecoderModel folder). Captions run side by side (see
// towers.Captioner); with several captions in flight the kernel pool gives
// each one thread (Pool.For, Pool.Team), so a 2-thread plugin captions two
// images at once; one caption alone runs its encoder and its greedy decoding
// as a team of a member per thread (ViT.Forward, GPT-2's greedyBands).
type captioner struct {
	*towers.Captioner
}

// isCaptioner reports whether dir holds a ViT+GPT-2 VisionEncoderDecoder.
func isCaptioner(dir string) bool { return towers.IsCaptionerFolder(dir) }

func loadCaptioner(dir string) (*captioner, error) {
	c, err := towers.LoadCaptionerFolder(dir)
	if err != nil {
		return nil, err
	}
	return &captioner{c}, nil
}

// captionPrefix reads a prompt as a caption prefix: lower-cased, a final
// period dropped, split into words. It returns the token ids (start token
// first) when every word is in the vocabulary and the prefix leaves room to
// continue, else nil: a question such as "What is in this image?" is not a
// caption the model can continue, and it captions plainly instead.
func (c *captioner) captionPrefix(prompt string) []int {
	text := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(prompt)), ".")
	words := strings.Fields(text)
	if len(words) == 0 || len(words)+1 >= c.Cfg.Decoder.NPositions {
		return nil
	}
	ids := []int{c.Cfg.Start}
	for _, w := range words {
		id := c.Tok.Encode(w, false)
		if len(id) != 1 || c.Tok.IsControl(id[0]) || c.Tok.Decode(id[0]) != w {
			return nil
		}
		ids = append(ids, id[0])
	}
	return ids
}

// Caption decodes image bytes and describes them. With a prompt that is a
// caption prefix (see captionPrefix) the caption starts with it; used says so.
func (c *captioner) Caption(ctx context.Context, image []byte, p tasks.ImageCaptionParams) (caption string, used bool, err error) {
	img, _, err := imgproc.DecodeContext(ctx, image, imageLimits)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, err
		}
		return "", false, sdk.Errorf(sdk.CodeInvalidRequest, "image: %v", err)
	}
	defer imgproc.ReturnMemory(imgproc.ImageBytes(img)) // img is dead by then
	prefix := c.captionPrefix(p.Prompt)
	if prefix == nil {
		prefix = []int{c.Cfg.Start}
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	maxLen := c.Cfg.MaxLength
	if p.MaxTokens > 0 {
		maxLen = min(maxLen, p.MaxTokens)
	}
	toks, err := c.Captioner.Caption(img, prefix, p.Beam, maxLen)
	if err != nil {
		return "", false, err
	}
	return c.Tok.DecodeAll(append(prefix[1:], toks...)), len(prefix) > 1, nil
}

// captionEngine serves image.caption from the captioners found in the model
// directories, loading each on first use.
type captionEngine struct {
	folders *sdk.Folders[*captioner]
}

func newCaptionEngine(dirs []string) *captionEngine {
	return &captionEngine{folders: &sdk.Folders[*captioner]{Task: tasks.ImageCaption, Dirs: dirs, Accept: isCaptioner, Load: loadCaptioner}}
}

// models maps model id (folder name) → folder, first directory wins.
func (e *captionEngine) models() map[string]string { return e.folders.Found() }

func (e *captionEngine) modelInfos() []sdk.ModelInfo {
	ms := e.models()
	var out []sdk.ModelInfo
	for _, id := range e.folders.IDs() {
		out = append(out, sdk.ModelInfo{ID: id, Tasks: []string{tasks.ImageCaption}, Ready: true,
			Description: "ViT encoder + GPT-2 decoder image captioner", Created: sdk.ModelCreated(ms[id]),
			MemoryBytes: sdk.DirBytes(ms[id]), Loaded: e.folders.Loaded(id),
			Specs: tasks.Specs(tasks.ImageCaption)})
	}
	return out
}

func (e *captionEngine) get(id string) (*captioner, error) { return e.folders.Get(id) }

// defaultModel is the first captioner by id, for jobs that name none.
func (e *captionEngine) defaultModel() string {
	infos := e.modelInfos()
	if len(infos) == 0 {
		return ""
	}
	return infos[0].ID
}

func (e *captionEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	var p tasks.ImageCaptionParams
	if err := sdk.DecodeParams(job.Params, &p); err != nil {
		return err
	}
	if p.Beam == 0 {
		p.Beam = 1
	}
	if len(p.Prompt) > maxCaptionPrompt {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: prompt is %d bytes; the limit is %d", len(p.Prompt), maxCaptionPrompt).WithParam("prompt")
	}
	var image []byte
	for _, in := range job.Inputs {
		if in.Name == tasks.InputImage {
			image = in.Data
		}
	}
	if image == nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "image.caption needs an input named \"image\"")
	}
	model := job.Model
	if model == "" {
		model = e.defaultModel()
	}
	c, err := e.get(model)
	if err != nil {
		return err
	}
	text, used, err := c.Caption(ctx, image, p)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(tasks.ImageCaptionResult{Caption: text, Model: model, PromptUsed: used})
	return emit(sdk.Event{Kind: sdk.EventResult, Result: out})
}
