package towers

// Image captioner: Hugging Face's VisionEncoderDecoderModel with a ViT
// encoder (vit.go) and a GPT-2 decoder with cross-attention (gpt2.go), as a
// folder: config.json (model_type "vision-encoder-decoder", "encoder" and
// "decoder" configs, decoder_start_token_id, max_length), model.safetensors
// (encoder.* and decoder.* tensors), tokenizer.json (WordLevel) and
// preprocessor_config.json (image_mean, image_std). models/shapes-captioner
// is one (tools/captioner/train.py). plugins/vision serves it for
// image.caption; plugins/video reads an image-to-video picture with it.

import (
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sync"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tokenizer"
)

// CaptionerConfig is the config.json of a VisionEncoderDecoderModel with a
// ViT encoder and a GPT-2 decoder.
type CaptionerConfig struct {
	ModelType string     `json:"model_type"`
	Encoder   ViTConfig  `json:"encoder"`
	Decoder   GPT2Config `json:"decoder"`
	Start     int        `json:"decoder_start_token_id"`
	MaxLength int        `json:"max_length"`
}

// captionerPreprocessor is the part of preprocessor_config.json the
// captioner uses: the normalisation after resizing to the encoder's side.
type captionerPreprocessor struct {
	Mean []float32 `json:"image_mean"`
	Std  []float32 `json:"image_std"`
}

// Captioner is one loaded folder. Captions may run side by side: the ViT
// takes its activations from an arena per call, GPT-2 keeps a decoding's
// state of its own, and each call takes its pixel and encoder buffers from
// bufs.
type Captioner struct {
	Cfg  CaptionerConfig
	Norm imgproc.Normalize
	ViT  *ViT
	Dec  *GPT2
	Tok  *tokenizer.WordLevel
	src  formats.TensorSource
	bufs sync.Pool // *captionBuffers
}

// captionBuffers are one call's pixels and encoder states.
type captionBuffers struct {
	px  []float32 // (3, S, S)
	enc []float32 // (T, H): T = 1 + (S/P)² tokens
}

// IsCaptionerFolder reports whether dir holds a ViT + GPT-2
// VisionEncoderDecoderModel.
func IsCaptionerFolder(dir string) bool {
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
	_, err = os.Stat(filepath.Join(dir, "model.safetensors"))
	return json.Unmarshal(raw, &c) == nil && c.ModelType == "vision-encoder-decoder" &&
		c.Encoder.ModelType == "vit" && c.Decoder.ModelType == "gpt2" && err == nil
}

// LoadCaptionerFolder binds a captioner folder (see the file comment).
func LoadCaptionerFolder(dir string) (*Captioner, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	c := &Captioner{}
	if err := json.Unmarshal(raw, &c.Cfg); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	pre := captionerPreprocessor{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
	if raw, err := os.ReadFile(filepath.Join(dir, "preprocessor_config.json")); err == nil {
		if err := json.Unmarshal(raw, &pre); err != nil {
			return nil, fmt.Errorf("preprocessor_config.json: %w", err)
		}
	}
	S := c.Cfg.Encoder.ImageSize
	c.Norm = imgproc.Normalize{Width: S, Height: S}
	if len(pre.Mean) != 3 || len(pre.Std) != 3 {
		return nil, fmt.Errorf("preprocessor_config.json: image_mean and image_std need 3 values")
	}
	for i := 0; i < 3; i++ {
		if pre.Std[i] == 0 {
			return nil, fmt.Errorf("preprocessor_config.json: image_std[%d] is 0", i)
		}
		c.Norm.Mean[i], c.Norm.Std[i] = pre.Mean[i], pre.Std[i]
	}
	src, err := formats.OpenSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	if err := c.bind(dir, src); err != nil {
		src.Close()
		return nil, err
	}
	c.src = src
	enc, px := c.Cfg.Encoder.Tokens()*c.Cfg.Encoder.HiddenSize, c.Cfg.Encoder.NumChannels*S*S
	c.bufs.New = func() any { return &captionBuffers{px: make([]float32, px), enc: make([]float32, enc)} }
	return c, nil
}

// bind loads the two towers and the tokenizer.
func (c *Captioner) bind(dir string, src formats.TensorSource) error {
	b := nn.NewBinder(src)
	var err error
	if c.ViT, err = LoadViT(b.Sub("encoder"), c.Cfg.Encoder); err != nil {
		return err
	}
	if c.Dec, err = LoadGPT2(b.Sub("decoder"), c.Cfg.Decoder, c.Cfg.Encoder.HiddenSize); err != nil {
		return err
	}
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return err
	}
	if c.Tok, err = tokenizer.ParseWordLevel(tj, c.Cfg.Start, c.Cfg.Decoder.EOS); err != nil {
		return err
	}
	if c.Tok.VocabSize() != c.Cfg.Decoder.VocabSize {
		return fmt.Errorf("tokenizer has %d words, decoder %d", c.Tok.VocabSize(), c.Cfg.Decoder.VocabSize)
	}
	if c.Cfg.MaxLength <= 0 {
		c.Cfg.MaxLength = c.Cfg.Decoder.NPositions
	}
	return nil
}

// Close releases the weights.
func (c *Captioner) Close() error { return c.src.Close() }

// Caption describes img: the encoder reads it resized to its side and
// normalised, the decoder continues prefix (token ids, the start token
// first; nil: the start token alone) with beam search of width beam (1:
// greedy) for at most maxLen tokens (≤ 0: the folder's max_length). It
// returns the tokens after the prefix.
func (c *Captioner) Caption(img image.Image, prefix []int, beam, maxLen int) ([]int, error) {
	if prefix == nil {
		prefix = []int{c.Cfg.Start}
	}
	if maxLen <= 0 {
		maxLen = c.Cfg.MaxLength
	}
	buf := c.bufs.Get().(*captionBuffers)
	defer c.bufs.Put(buf)
	if err := imgproc.ToCHW(buf.px, img, c.Norm); err != nil {
		return nil, err
	}
	if err := c.ViT.Forward(buf.enc, buf.px); err != nil {
		return nil, err
	}
	return c.Dec.GenerateFrom(buf.enc, c.Cfg.Encoder.Tokens(), prefix, max(1, beam), maxLen)
}

// CaptionText is Caption's greedy caption as words.
func (c *Captioner) CaptionText(img image.Image) (string, error) {
	toks, err := c.Caption(img, nil, 1, 0)
	if err != nil {
		return "", err
	}
	return c.Tok.DecodeAll(toks), nil
}

// subjectTolerance is how far (per 8-bit channel) a pixel must differ from
// the border's median colour to count as the subject for CaptionCentred.
const subjectTolerance = 48

// CaptionCentred is CaptionText of img with its subject moved to the middle
// (imgproc.CentreSubject, its size kept). The Shapes captioner learnt
// objects at five places; the first frame of a Shapes video has its object
// near an edge: it names 418 of 500 such frames' objects right as they are
// and 500 of 500 centred (go run ./tools/video/evalvideo -captions 500).
func (c *Captioner) CaptionCentred(img image.Image) (string, error) {
	S := c.Cfg.Encoder.ImageSize // the encoder's side first: an upload may be large
	return c.CaptionText(imgproc.CentreSubject(imgproc.Resize(img, S, S), subjectTolerance))
}
