package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tokenizer"
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

// captionerConfig is the config.json of a VisionEncoderDecoderModel with a
// ViT encoder and a GPT-2 decoder, plus its preprocessor_config.json.
type captionerConfig struct {
	ModelType string            `json:"model_type"`
	Encoder   towers.ViTConfig  `json:"encoder"`
	Decoder   towers.GPT2Config `json:"decoder"`
	Start     int               `json:"decoder_start_token_id"`
	MaxLength int               `json:"max_length"`
}

type preprocessorConfig struct {
	Size struct {
		Height int `json:"height"`
		Width  int `json:"width"`
	} `json:"size"`
	Mean []float32 `json:"image_mean"`
	Std  []float32 `json:"image_std"`
}

// isCaptioner reports whether dir holds a ViT+GPT-2 VisionEncoderDecoder.
func isCaptioner(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return false
	}
	var c struct {
		ModelType string `json:"model_type"`
		Encoder   struct {
			ModelType string `json:"model_type"`
		} `json:"encoder"`
		Decoder struct {
			ModelType string `json:"model_type"`
		} `json:"decoder"`
	}
	return json.Unmarshal(raw, &c) == nil && c.ModelType == "vision-encoder-decoder" &&
		c.Encoder.ModelType == "vit" && c.Decoder.ModelType == "gpt2" &&
		fileExists(filepath.Join(dir, "model.safetensors"))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// captioner is one loaded model. Captions run side by side: the ViT takes
// its activations from an arena per call, GPT-2 keeps a decoding's state in
// a GPT2State of its own, and each call takes its pixel and encoder buffers
// from bufs. With several captions in flight the kernel pool gives each one
// thread (Pool.For), so a 2-thread plugin captions two images at once where
// one image's ops are too small to split.
type captioner struct {
	cfg  captionerConfig
	norm imgproc.Normalize
	vit  *towers.ViT
	dec  *towers.GPT2
	tok  *tokenizer.WordLevel
	src  formats.TensorSource
	bufs sync.Pool // *captionBuffers
}

// captionBuffers are one call's pixels and encoder states.
type captionBuffers struct {
	px  []float32 // (3, S, S)
	enc []float32 // (T, H)
}

func loadCaptioner(dir string) (*captioner, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	c := &captioner{}
	if err := json.Unmarshal(raw, &c.cfg); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	pre := preprocessorConfig{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
	if raw, err := os.ReadFile(filepath.Join(dir, "preprocessor_config.json")); err == nil {
		if err := json.Unmarshal(raw, &pre); err != nil {
			return nil, fmt.Errorf("preprocessor_config.json: %w", err)
		}
	}
	S := c.cfg.Encoder.ImageSize
	c.norm = imgproc.Normalize{Width: S, Height: S}
	if len(pre.Mean) != 3 || len(pre.Std) != 3 {
		return nil, fmt.Errorf("preprocessor_config.json: image_mean and image_std need 3 values")
	}
	for i := 0; i < 3; i++ {
		if pre.Std[i] == 0 {
			return nil, fmt.Errorf("preprocessor_config.json: image_std[%d] is 0", i)
		}
		c.norm.Mean[i], c.norm.Std[i] = pre.Mean[i], pre.Std[i]
	}
	src, err := formats.OpenSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	b := nn.NewBinder(src)
	if c.vit, err = towers.LoadViT(b.Sub("encoder"), c.cfg.Encoder); err != nil {
		src.Close()
		return nil, err
	}
	if c.dec, err = towers.LoadGPT2(b.Sub("decoder"), c.cfg.Decoder, c.cfg.Encoder.HiddenSize); err != nil {
		src.Close()
		return nil, err
	}
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		src.Close()
		return nil, err
	}
	if c.tok, err = tokenizer.ParseWordLevel(tj, c.cfg.Start, c.cfg.Decoder.EOS); err != nil {
		src.Close()
		return nil, err
	}
	if c.tok.VocabSize() != c.cfg.Decoder.VocabSize {
		src.Close()
		return nil, fmt.Errorf("tokenizer has %d words, decoder %d", c.tok.VocabSize(), c.cfg.Decoder.VocabSize)
	}
	if c.cfg.MaxLength <= 0 {
		c.cfg.MaxLength = c.cfg.Decoder.NPositions
	}
	c.src = src
	enc, px := c.cfg.Encoder.Tokens()*c.cfg.Encoder.HiddenSize, c.cfg.Encoder.NumChannels*S*S
	c.bufs.New = func() any { return &captionBuffers{px: make([]float32, px), enc: make([]float32, enc)} }
	return c, nil
}

// captionPrefix reads a prompt as a caption prefix: lower-cased, a final
// period dropped, split into words. It returns the token ids (start token
// first) when every word is in the vocabulary and the prefix leaves room to
// continue, else nil: a question such as "What is in this image?" is not a
// caption the model can continue, and it captions plainly instead.
func (c *captioner) captionPrefix(prompt string) []int {
	text := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(prompt)), ".")
	words := strings.Fields(text)
	if len(words) == 0 || len(words)+1 >= c.cfg.Decoder.NPositions {
		return nil
	}
	ids := []int{c.cfg.Start}
	for _, w := range words {
		id := c.tok.Encode(w, false)
		if len(id) != 1 || c.tok.IsControl(id[0]) || c.tok.Decode(id[0]) != w {
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
		prefix = []int{c.cfg.Start}
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	buf := c.bufs.Get().(*captionBuffers)
	defer c.bufs.Put(buf)
	if err := imgproc.ToCHW(buf.px, img, c.norm); err != nil {
		return "", false, err
	}
	if err := c.vit.Forward(buf.enc, buf.px); err != nil {
		return "", false, err
	}
	maxLen := c.cfg.MaxLength
	if p.MaxTokens > 0 {
		maxLen = min(maxLen, p.MaxTokens)
	}
	toks, err := c.dec.GenerateFrom(buf.enc, c.cfg.Encoder.Tokens(), prefix, max(1, p.Beam), maxLen)
	if err != nil {
		return "", false, err
	}
	return c.tok.DecodeAll(append(prefix[1:], toks...)), len(prefix) > 1, nil
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
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: prompt is %d bytes; the limit is %d", len(p.Prompt), maxCaptionPrompt)
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
