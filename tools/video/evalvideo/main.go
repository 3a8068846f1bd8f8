// Command evalvideo measures a video pipeline folder on the Shapes motion
// world: it generates clips through Loom's own towers (core/diffusion's
// sampler around core/towers' motion UNet, the folder's defaults unless
// flags say otherwise) and reads every clip back with shapes/check, the
// classical-CV reader that shares nothing with the model.
//
// Text-to-video: every prompt of the grammar "a SIZE COLOUR SHAPE moving
// DIRECTION" (the 144 combinations, each once, in a shuffled order from
// -seed), video i from noise seed 1000+i; a clip is right when it shows
// exactly one object of the prompt's shape, colour and size moving the
// prompt's way. Image-to-video (-i2v): frame 0 of a fresh rendered clip
// (shapes.ClipOf from -seed) is the picture, held as the first frame; the
// prompt names another shape and colour (same size and direction), so what
// the clip shows is the picture's object only if the picture conditions the
// model; a clip keeps the object when its shape and colour are the picture's.
//
// -data PREFIX checks the checker and the data instead: the first n clips of
// a shapesgen -video dataset read back against their prompts as rendered,
// and (with PREFIX.N.latents.f16 from encodeclips) after the VAE round trip
// the model trains on — both should read 100%.
//
//	go run ./tools/video/evalvideo -model models/shapes-video -n 144 -out /tmp/eval
//	go run ./tools/video/evalvideo -model models/shapes-video -i2v -n 100
//	for k in 0 1 2 3; do go run ./tools/video/evalvideo -n 64 -part $k/4 -out /tmp/e/$k & done; wait
//	go run ./tools/video/evalvideo -add /tmp/e/0/summary.json,/tmp/e/1/summary.json,/tmp/e/2/summary.json,/tmp/e/3/summary.json
//	go run ./tools/video/evalvideo -model models/shapes-video -data /tmp/video/train -latents 1200 -n 48
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/media"
	"github.com/loomhq/loom/core/sched"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/shapes"
	"github.com/loomhq/loom/shapes/check"
)

func main() {
	model := flag.String("model", "models/shapes-video", "video pipeline folder")
	n := flag.Int("n", 144, "clips (text-to-video: the first n of the 144 prompts in shuffled order)")
	seed := flag.Uint64("seed", 20261202, "prompt order / first-frame clips")
	i2v := flag.Bool("i2v", false, "image-to-video: hold a rendered first frame, prompt another object")
	steps := flag.Int("steps", 0, "sampling steps (0: the folder's default)")
	guidance := flag.Float64("guidance", -1, "guidance scale (<0: the folder's default)")
	sched := flag.String("scheduler", "", "ddim, euler, euler_a or dpmpp_2m (default: the folder's)")
	out := flag.String("out", "", "write each clip as a GIF and a summary.json here")
	data := flag.String("data", "", "read back the first n clips of this shapesgen -video dataset prefix instead")
	latents := flag.Int("latents", 0, "with -data: also decode PREFIX.LATENTS.latents.f16 (encodeclips -n LATENTS)")
	from := flag.Int("from", 0, "start at clip i = from (the clips before it are drawn, not generated: -n 64 -from 32 adds clips 32–63 to an -n 32 evaluation)")
	part := flag.String("part", "0/1", "k/K: generate only clips i with i mod K = k (K processes share one evaluation; add their summaries)")
	frameInit := flag.Float64("frame-init", 0, "image-to-video: start every frame from the picture's latents noised to this strength (0: from pure noise)")
	mix := flag.String("mix", "", "guidance as weighted model outputs, e.g. \"PTT:5,P00:-4\" (image-to-video at guidance 5), each term P/0 (picture or not; text-to-video: 0), T/0 (prompt or empty for the spatial layers), T/0 (for the motion modules), weights summing to 1; text-to-video \"0TT:3,000:-2\" is guidance 3, \"0TT:3,0T0:-2\" guides the motion modules only; a fourth character g or m leaves the global or all motion modules out of that term, \"0TT:4,000:-2,0TTg:-1\" adds skip guidance 1 away from the model without its global modules")
	cands := flag.Int("candidates", 0, "videos sampled per clip, the one the model scores best kept (as plugins/video does with the folder's loom defaults candidates and rerank_timestep); 0: the folder's; every candidate is judged and printed")
	rerankT := flag.Int("rerank-t", 0, "the timestep candidates are scored at; 0: the folder's rerank_timestep")
	self := flag.String("self-score", "", "timesteps, e.g. \"300,500,700\": after each clip print the model's own v-prediction error on its video noised again to each (lines \"SS index t prompt negative prompt_maxframe negative_maxframe\")")
	i2vGuidance := flag.String("i2v-guidance", "", "image-to-video guidance: prompt or picture (default: the folder's image_to_video_guidance, as plugins/video serves it)")
	i2vPrompt := flag.String("i2v-prompt", "", "image-to-video prompt: caption (the picture's object, read by the folder's captioner, moving the prompt's way) or plain (the prompt as given); default: the folder's image_to_video_prompt, as plugins/video serves it")
	captionerDir := flag.String("captioner", "models/shapes-captioner", "with -i2v-prompt caption on a folder that names no captioner: the captioner folder")
	hold := flag.Bool("i2v-hold", true, "image-to-video: hold the picture as frame 0 (false: text-to-video from the prompt alone, the picture only captioned; a diagnostic)")
	negative := flag.String("negative", "", "negative prompt (the unconditional half of guidance); \"opposite\": the prompt's object moving the opposite way")
	captions := flag.Int("captions", 0, "caption the first frames of this many random clips (from -seed) as they are and centred, count the right reads, and exit")
	sum := flag.String("add", "", "score these summary.json files (comma-separated: the parts of one evaluation) together, and exit")
	read := flag.String("read", "", "read back the NNN_PROMPT.gif clips of these -out folders (comma-separated), print each frame's object count, score them, and exit")
	flag.Parse()
	var k, parts int
	if _, err := fmt.Sscanf(*part, "%d/%d", &k, &parts); err != nil || parts < 1 || k < 0 || k >= parts {
		fmt.Fprintf(os.Stderr, "evalvideo: -part %q is not k/K with 0 ≤ k < K\n", *part)
		os.Exit(2)
	}
	if *sum != "" {
		if err := add(strings.Split(*sum, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "evalvideo:", err)
			os.Exit(1)
		}
		return
	}
	if *read != "" {
		if err := readGIFs(strings.Split(*read, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "evalvideo:", err)
			os.Exit(1)
		}
		return
	}
	if *captions > 0 {
		if err := readFirstFrames(*captionerDir, *captions, *seed); err != nil {
			fmt.Fprintln(os.Stderr, "evalvideo:", err)
			os.Exit(1)
		}
		return
	}
	if *data != "" {
		if err := readData(*model, *data, *n, *latents); err != nil {
			fmt.Fprintln(os.Stderr, "evalvideo:", err)
			os.Exit(1)
		}
		return
	}
	var selfT []float64
	for _, f := range strings.Split(*self, ",") {
		if f == "" {
			continue
		}
		t, err := strconv.ParseFloat(f, 64)
		if err != nil || t < 0 || t > 999 {
			fmt.Fprintf(os.Stderr, "evalvideo: -self-score %q: timesteps 0…999\n", *self)
			os.Exit(2)
		}
		selfT = append(selfT, t)
	}
	if err := run(*model, *n, *seed, *i2v, *steps, *guidance, *sched, *out, k, parts, *frameInit, *mix, *i2vGuidance, *i2vPrompt, *captionerDir, *hold, *negative, *from, selfT, *cands, *rerankT); err != nil {
		fmt.Fprintln(os.Stderr, "evalvideo:", err)
		os.Exit(1)
	}
}

// job is one clip to generate: its prompt, what it must show, and for
// image-to-video the picture's object.
type job struct {
	Index   int               `json:"index"`
	Prompt  string            `json:"prompt"`
	Want    shapes.VideoAttrs `json:"want"`
	Picture *shapes.Clip      `json:"-"`
	Seed    int64             `json:"seed"`
	Caption string            `json:"caption,omitempty"` // the picture's caption (-i2v-prompt caption)
	Used    string            `json:"prompt_used,omitempty"`
	Got     []string          `json:"mismatches"`
	Read    string            `json:"read"`
	Blobs   string            `json:"frame_objects,omitempty"` // objects the checker finds in each frame, e.g. "2211111111111111"
	// Candidates, with -candidates > 1: each sampled video's score and
	// reading; the clip is the lowest-scored one's (Chosen).
	Candidates []candidate `json:"candidates,omitempty"`
	Chosen     int         `json:"chosen"`
}

// candidate is one of a clip's sampled videos: its score (the model's own
// error, diffusion.DenoiseError) and what the checker reads in it.
type candidate struct {
	Score float64  `json:"score"`
	Got   []string `json:"mismatches"`
	Blobs string   `json:"frame_objects"`
}

func prompts(n int, seed uint64, i2v bool) []job {
	r := rand.New(rand.NewPCG(seed, 0x71de0))
	var all []shapes.VideoAttrs
	for _, size := range shapes.Sizes {
		for _, col := range shapes.Colours {
			for _, sh := range shapes.Shapes {
				for _, d := range shapes.Directions {
					all = append(all, shapes.VideoAttrs{Shape: sh, Colour: col, Size: size, Direction: d})
				}
			}
		}
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var jobs []job
	for i := 0; i < n; i++ {
		a := all[i%len(all)]
		j := job{Want: a, Prompt: a.Prompt(), Seed: int64(1000 + i)}
		if i2v {
			c, err := shapes.ClipOf(r, a)
			if err != nil {
				panic(err) // unreachable: the attributes come from the tables
			}
			j.Picture = &c
			// The prompt names another shape and colour: the picture must win.
			p := a
			for p.Shape == a.Shape {
				p.Shape = shapes.Shapes[r.IntN(len(shapes.Shapes))]
			}
			for p.Colour == a.Colour {
				p.Colour = shapes.Colours[r.IntN(len(shapes.Colours))]
			}
			j.Prompt = p.Prompt()
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func run(dir string, n int, seed uint64, i2v bool, steps int, guidance float64, scheduler, outDir string, part, parts int, frameInit float64, mix, i2vGuidance, i2vPrompt, captionerDir string, hold bool, negative string, from int, selfT []float64, cands, rerankT int) error {
	p, err := diffusion.Open(dir, 200, 30)
	if err != nil {
		return err
	}
	defer p.Close()
	m, err := towers.LoadMotionUNetFolder(dir, p.Bind)
	if err != nil {
		return err
	}
	d := p.Defaults
	if steps > 0 {
		d.Steps = steps
	}
	if guidance >= 0 {
		d.GuidanceScale = guidance
	}
	if scheduler != "" {
		d.Scheduler = scheduler
	}
	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return err
		}
	}
	var terms []term
	if mix != "" {
		var err error
		if terms, err = parseMix(mix); err != nil {
			return err
		}
		for _, t := range terms {
			if t.picture && !i2v {
				return fmt.Errorf("-mix %q: text-to-video has no picture (P)", mix)
			}
		}
	}
	var index struct {
		Loom struct {
			Defaults struct {
				ImageToVideoGuidance string `json:"image_to_video_guidance"`
				Candidates           int    `json:"candidates"`
				RerankTimestep       int    `json:"rerank_timestep"`
			} `json:"defaults"`
			ImageToVideoPrompt *struct {
				Captioner string `json:"captioner"`
			} `json:"image_to_video_prompt"`
		} `json:"loom"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "model_index.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return err
	}
	if i2vGuidance == "" {
		i2vGuidance = index.Loom.Defaults.ImageToVideoGuidance
	}
	if cands == 0 {
		cands = max(index.Loom.Defaults.Candidates, 1)
	}
	if rerankT == 0 {
		rerankT = index.Loom.Defaults.RerankTimestep
	}
	if cands > 1 && (terms != nil || frameInit > 0) {
		return fmt.Errorf("-candidates %d: not with -mix or -frame-init", cands)
	}
	if c := index.Loom.ImageToVideoPrompt; c != nil {
		if i2vPrompt == "" {
			i2vPrompt = "caption"
		}
		if c.Captioner != "" { // as plugins/video finds it: beside the folder
			captionerDir = filepath.Join(filepath.Dir(filepath.Clean(dir)), c.Captioner)
		}
	}
	var capt *towers.Captioner
	switch i2vPrompt {
	case "", "plain":
		i2vPrompt = "plain"
	case "caption":
		if capt, err = towers.LoadCaptionerFolder(captionerDir); err != nil {
			return fmt.Errorf("captioner: %w", err)
		}
		defer capt.Close()
	default:
		return fmt.Errorf("-i2v-prompt %q: caption or plain", i2vPrompt)
	}
	ac := sched.AlphasCumprod(p.Sched)
	empty, err := p.EncodePrompts("", "")
	if err != nil {
		return err
	}
	empty = empty[:len(empty)/2] // the empty prompt's states, for a model whose image-to-video spatial layers read it
	side, F, C := m.SampleSize(), shapes.Frames, m.LatentChannels()
	px := side * p.VAE.Cfg.Downscale()
	fl := C * side * side
	var jobs []job
	for i, j := range prompts(n, seed, i2v) {
		if i >= from && i%parts == part {
			j.Index = i
			jobs = append(jobs, j)
		}
	}
	t0 := time.Now()
	for i := range jobs {
		j := &jobs[i]
		prompt := j.Prompt
		var first []float32
		if j.Picture != nil {
			pic := shapes.Render(j.Picture.Scene(0))
			if capt != nil { // as plugins/video does; a caption outside the grammar keeps the prompt
				if j.Caption, err = capt.CaptionCentred(pic); err != nil {
					return err
				}
				if used, err := shapes.PictureVideoPrompt(j.Caption, j.Prompt); err == nil {
					prompt, j.Used = used, used
				}
			}
			if hold {
				if first, err = p.EncodeImage(pic, px); err != nil {
					return err
				}
			}
		}
		neg := negative
		if neg == "opposite" {
			a, err := shapes.ParseVideoPrompt(prompt)
			if err != nil {
				return err
			}
			a.Direction = map[string]string{"left": "right", "right": "left", "up": "down", "down": "up"}[a.Direction]
			neg = a.Prompt()
		}
		ctx2, err := p.EncodePrompts(prompt, neg)
		if err != nil {
			return err
		}
		den := func(out, in []float32, rows int, t float32, ctx []float32) error {
			if first != nil {
				return m.ForwardFirstFrameMotionText(out, in, first, rows, F, side, side, t, m.ImageToVideoContext(ctx, empty), ctx, p.CtxLen)
			}
			return m.Forward(out, in, rows, F, side, side, []float32{t}, ctx, p.CtxLen)
		}
		if first != nil && i2vGuidance == "picture" { // as plugins/video serves such a folder
			plain := func(out, in []float32, rows int, t float32, ctx []float32) error {
				return m.ForwardMotionText(out, in, rows, F, side, side, []float32{t}, m.ImageToVideoContext(ctx, empty), ctx, p.CtxLen)
			}
			den = p.PictureGuided(plain, den, first, cands, j.Seed)
			half := len(ctx2) / 2
			ctx2 = append(ctx2[half:], ctx2[half:]...)
		}
		run := diffusion.Run{Scheduler: d.Scheduler, Steps: d.Steps, Guidance: float32(d.GuidanceScale), Items: cands, Per: F * fl, Seed: j.Seed,
			Frames: F, FrameShare: m.Cfg.Motion.FrameNoiseShare}
		if terms != nil {
			den, run.Guidance = mixed(m, terms, ctx2, first, ac, F, side, p.CtxLen, j.Seed), 1
		}
		if first != nil && frameInit > 0 {
			run.Init, run.Strength = make([]float32, 0, F*fl), frameInit
			for f := 0; f < F; f++ {
				run.Init = append(run.Init, first...)
			}
		}
		x, err := p.Sample(run,
			ctx2, den, diffusion.Hooks{Stopped: func() error { return nil }, Timings: func(string, time.Duration) {},
				Progress: func(int, int) error { return nil }})
		if err != nil {
			return err
		}
		if first != nil {
			for c := 0; c < cands; c++ {
				copy(x[c*F*fl:], first) // the held first frame
			}
		}
		if cands > 1 {
			if x, err = pickCandidate(p, m, x, ctx2, cands, rerankT, F, side, px, j); err != nil {
				return err
			}
		}
		if len(selfT) > 0 {
			if err := selfScore(m, x, ctx2, ac, selfT, F, side, p.CtxLen, j); err != nil {
				return err
			}
		}
		frames, err := decodeFrames(p, x, F, side, px)
		if err != nil {
			return err
		}
		j.readBack(frames)
		if outDir != "" {
			gif, err := media.GIF(frames, 8)
			if err != nil {
				return err
			}
			name := fmt.Sprintf("%03d_%s.gif", j.Index, strings.ReplaceAll(j.Prompt, " ", "_"))
			if err := os.WriteFile(filepath.Join(outDir, name), gif, 0o644); err != nil {
				return err
			}
		}
		if j.Caption != "" {
			fmt.Printf("    picture: %q -> prompt %q\n", j.Caption, prompt)
		}
		for c, cd := range j.Candidates {
			fmt.Printf("    candidate %d: score %.5f %s %v\n", c, cd.Score, cd.Blobs, cd.Got)
		}
		fmt.Printf("%3d %-40s %-46s %s %v (%.0f s)\n", j.Index, j.Prompt, j.Read, j.Blobs, j.Got, time.Since(t0).Seconds()/float64(i+1))
	}
	summary := map[string]any{"model": dir, "i2v": i2v, "steps": d.Steps, "guidance": d.GuidanceScale,
		"scheduler": d.Scheduler, "seed": seed, "mix": mix, "i2v_guidance": i2vGuidance, "part": fmt.Sprintf("%d/%d", part, parts), "frame_init": frameInit, "i2v_prompt": i2vPrompt, "i2v_hold": hold, "negative": negative, "from": from, "minutes": time.Since(t0).Minutes()}
	score(jobs, i2v, summary)
	if outDir != "" {
		b, err := json.MarshalIndent(map[string]any{"summary": summary, "clips": jobs}, "", " ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(outDir, "summary.json"), b, 0o644)
	}
	return nil
}

// readBack reads the clip's frames with the checker into Got, Read and Blobs.
func (j *job) readBack(frames []image.Image) {
	c := check.ReadClip(frames)
	j.Got = c.Mismatches(j.Want)
	j.Read = fmt.Sprintf("%d objects, a %s %s %s moving %s", c.Objects, c.Size, c.Colour, c.Shape, c.Direction)
	var b strings.Builder
	for _, f := range c.Frames {
		fmt.Fprintf(&b, "%d", min(len(f.Blobs), 9))
	}
	j.Blobs = b.String()
}

// readGIFs reads back the clips an evaluation wrote (-out), named
// NNN_a_SIZE_COLOUR_SHAPE_moving_DIRECTION.gif, and scores them.
func readGIFs(dirs []string) error {
	var jobs []job
	for _, dir := range dirs {
		names, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9]_*.gif"))
		if err != nil {
			return err
		}
		for _, name := range names {
			var j job
			base := strings.TrimSuffix(filepath.Base(name), ".gif")
			idx, prompt, _ := strings.Cut(base, "_")
			if _, err := fmt.Sscanf(idx, "%d", &j.Index); err != nil {
				return fmt.Errorf("%s: no clip index", name)
			}
			j.Prompt = strings.ReplaceAll(prompt, "_", " ")
			if j.Want, err = shapes.ParseVideoPrompt(j.Prompt); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			g, err := gif.DecodeAll(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			var frames []image.Image
			for _, pal := range g.Image {
				rgba := image.NewRGBA(pal.Bounds())
				draw.Draw(rgba, rgba.Bounds(), pal, pal.Bounds().Min, draw.Src)
				frames = append(frames, rgba)
			}
			j.readBack(frames)
			fmt.Printf("%3d %-40s %-46s %s %v\n", j.Index, j.Prompt, j.Read, j.Blobs, j.Got)
			jobs = append(jobs, j)
		}
	}
	slices.SortFunc(jobs, func(a, b job) int { return a.Index - b.Index })
	score(jobs, false, map[string]any{})
	return nil
}

// score counts the clips that are right in every attribute and in each, into
// summary, and prints them.
func score(jobs []job, i2v bool, summary map[string]any) {
	counts, right, kept := map[string]int{}, 0, 0
	for _, j := range jobs {
		if len(j.Got) == 0 {
			right++
		}
		for _, bad := range j.Got {
			counts[bad]++
		}
		if !contains(j.Got, "shape") && !contains(j.Got, "colour") {
			kept++
		}
	}
	total := len(jobs)
	pct := func(k int) float64 { return 100 * float64(k) / float64(max(total, 1)) }
	summary["clips"] = total
	if i2v {
		summary["keeps_picture_object_pct"] = pct(kept)
		fmt.Printf("image-to-video: keeps the picture's shape and colour in %d/%d (%.1f%%)\n", kept, total, pct(kept))
	}
	for _, a := range []string{"objects", "shape", "colour", "size", "direction"} {
		summary[a+"_pct"] = 100 - pct(counts[a])
	}
	summary["all_right_pct"] = pct(right)
	fmt.Printf("right in every attribute: %d/%d (%.1f%%); per attribute: one object %.1f%%, shape %.1f%%, colour %.1f%%, size %.1f%%, direction %.1f%%\n",
		right, total, pct(right), 100-pct(counts["objects"]), 100-pct(counts["shape"]), 100-pct(counts["colour"]), 100-pct(counts["size"]), 100-pct(counts["direction"]))
	// The same by the prompt's size and direction: where the failures are.
	var by strings.Builder
	for _, g := range append(slices.Clone(shapes.Sizes), shapes.Directions...) {
		n, r, two, dir := 0, 0, 0, 0
		for _, j := range jobs {
			if j.Want.Size != g && j.Want.Direction != g {
				continue
			}
			n++
			if len(j.Got) == 0 {
				r++
			}
			if contains(j.Got, "objects") {
				two++
			}
			if contains(j.Got, "direction") {
				dir++
			}
		}
		if n > 0 {
			fmt.Fprintf(&by, "; %s %d/%d right (not one object %d, direction wrong %d)", g, r, n, two, dir)
		}
	}
	fmt.Printf("by prompt%s\n", by.String())
}

// add scores the clips of several summary.json files together (the parts of
// one evaluation run as -part k/K).
func add(paths []string) error {
	var all []job
	i2v := false
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var s struct {
			Summary struct {
				I2V bool `json:"i2v"`
			} `json:"summary"`
			Clips []job `json:"clips"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		i2v = i2v || s.Summary.I2V
		all = append(all, s.Clips...)
	}
	score(all, i2v, map[string]any{})
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// readData reads back the first n clips of a dataset: as rendered, and when
// latents > 0 as the VAE decodes their encoded means (the frames' latents
// train.py samples around).
func readData(dir, prefix string, n, latents int) error {
	const side, F = shapes.Size, shapes.Frames
	prompts, err := os.ReadFile(prefix + ".txt")
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(prompts)), "\n")
	raw, err := os.Open(prefix + ".u8")
	if err != nil {
		return err
	}
	defer raw.Close()
	var p *diffusion.Pipeline
	var lat *os.File
	if latents > 0 {
		if p, err = diffusion.Open(dir, 200, 30); err != nil {
			return err
		}
		defer p.Close()
		if lat, err = os.Open(fmt.Sprintf("%s.%d.latents.f16", prefix, latents)); err != nil {
			return err
		}
		defer lat.Close()
		n = min(n, latents)
	}
	n = min(n, len(lines))
	clip := make([]byte, F*side*side*3)
	rightRendered, rightDecoded := 0, 0
	for i := 0; i < n; i++ {
		want, err := shapes.ParseVideoPrompt(lines[i])
		if err != nil {
			return fmt.Errorf("clip %d: %w", i, err)
		}
		if _, err := raw.ReadAt(clip, int64(i)*int64(len(clip))); err != nil {
			return fmt.Errorf("clip %d: %w", i, err)
		}
		frames := make([]image.Image, F)
		for f := range frames {
			im := image.NewNRGBA(image.Rect(0, 0, side, side))
			for q := 0; q < side*side; q++ {
				copy(im.Pix[4*q:], clip[(f*side*side+q)*3:][:3])
				im.Pix[4*q+3] = 255
			}
			frames[f] = im
		}
		bad := check.ReadClip(frames).Mismatches(want)
		if len(bad) == 0 {
			rightRendered++
		}
		line := fmt.Sprintf("%3d %-40s rendered %v", i, lines[i], bad)
		if lat != nil {
			lc, lside := p.VAE.Cfg.LatentChannels, side/p.VAE.Cfg.Downscale()
			per := F * lc * lside * lside
			buf := make([]byte, 2*per) // the means of (N, F, L, h, w); the stds follow all of them
			if _, err := lat.ReadAt(buf, int64(i)*int64(len(buf))); err != nil {
				return fmt.Errorf("latents of clip %d: %w", i, err)
			}
			z := make([]float32, per)
			for k := range z {
				z[k] = kernels.F16ToF32(binary.LittleEndian.Uint16(buf[2*k:]))
			}
			rgb := make([]float32, F*3*side*side)
			if err := p.VAE.Decode(rgb, z, F, lside, lside); err != nil {
				return err
			}
			dec := make([]image.Image, F)
			for f := range dec {
				dec[f] = diffusion.ToNRGBA(rgb[f*3*side*side:(f+1)*3*side*side], side, side)
			}
			bad := check.ReadClip(dec).Mismatches(want)
			if len(bad) == 0 {
				rightDecoded++
			}
			line += fmt.Sprintf(", through the VAE %v", bad)
		}
		fmt.Println(line)
	}
	fmt.Printf("rendered clips read right: %d/%d\n", rightRendered, n)
	if lat != nil {
		fmt.Printf("VAE round trips read right: %d/%d\n", rightDecoded, n)
	}
	return nil
}

// pickCandidate scores a clip's candidates x (cands videos of F frames) as
// plugins/video does (diffusion.DenoiseError at timestep rt, text-to-video,
// the prompt: ctx2's second half), judges each, and returns the
// lowest-scored one's latents.
func pickCandidate(p *diffusion.Pipeline, m *towers.MotionUNet, x, ctx2 []float32, cands, rt, F, side, px int, j *job) ([]float32, error) {
	per := len(x) / cands
	score := func(out, in []float32, rows int, t float32, ctx []float32) error {
		return m.Forward(out, in, rows, F, side, side, []float32{t}, ctx, p.CtxLen)
	}
	best, errs, err := p.PickCandidate(score, x, cands, rt, ctx2, j.Seed)
	if err != nil {
		return nil, err
	}
	for c := 0; c < cands; c++ {
		frames, err := decodeFrames(p, x[c*per:(c+1)*per], F, side, px)
		if err != nil {
			return nil, err
		}
		jc := *j
		jc.readBack(frames)
		j.Candidates = append(j.Candidates, candidate{Score: errs[c], Got: jc.Got, Blobs: jc.Blobs})
	}
	j.Chosen = best
	return x[j.Chosen*per : (j.Chosen+1)*per], nil
}

// decodeFrames decodes one video's latents (F, C, side, side) into its
// 8-bit frames of px×px.
func decodeFrames(p *diffusion.Pipeline, x []float32, F, side, px int) ([]image.Image, error) {
	rgb := make([]float32, F*3*px*px)
	if err := p.VAE.DecodeLatents(rgb, x, F, side, side); err != nil {
		return nil, err
	}
	frames := make([]image.Image, F)
	for f := range frames {
		frames[f] = diffusion.ToNRGBA(rgb[f*3*px*px:(f+1)*3*px*px], px, px)
	}
	return frames, nil
}

// selfScore prints the model's own v-prediction error on the video it made
// (x, latents (F, C, side, side)) noised again to each timestep of ts, with
// the prompt (c) and the negative prompt (u), mean over the video and the
// most of any frame: "SS index t c u cmaxframe umaxframe".
func selfScore(m *towers.MotionUNet, x, ctx2 []float32, ac []float64, ts []float64, F, side, L int, j *job) error {
	LD := len(ctx2) / 2
	eps := make([]float32, len(x))
	xt := make([]float32, len(x))
	out := make([]float32, len(x))
	fl := len(x) / F
	for k, t := range ts {
		diffusion.Noise(int64(j.Seed)+int64(k+1)<<36, 0).Fill(eps, 1)
		a := ac[min(int(t+0.5), len(ac)-1)]
		sa, sb := math.Sqrt(a), math.Sqrt(1-a)
		for q := range x {
			xt[q] = float32(sa*float64(x[q]) + sb*float64(eps[q]))
		}
		var res [2][2]float64 // (c, u) × (mean, max frame)
		for h, ctx := range [][]float32{ctx2[LD:], ctx2[:LD]} {
			if err := m.Forward(out, xt, 1, F, side, side, []float32{float32(t)}, ctx, L); err != nil {
				return err
			}
			for f := 0; f < F; f++ {
				e := 0.0
				for q := f * fl; q < (f+1)*fl; q++ {
					v := sa*float64(eps[q]) - sb*float64(x[q])
					d := float64(out[q]) - v
					e += d * d
				}
				e /= float64(fl)
				res[h][0] += e / float64(F)
				res[h][1] = max(res[h][1], e)
			}
		}
		fmt.Printf("SS %d %g %.5f %.5f %.5f %.5f\n", j.Index, t, res[0][0], res[1][0], res[0][1], res[1][1])
	}
	return nil
}

// term is one model output of a mixed guidance: with the picture or not,
// the prompt or the empty one for the spatial cross-attention and for the
// motion modules, and its weight.
type term struct {
	picture, spatialText, motionText bool
	skip                             towers.MotionSkip
	w                                float64
}

// parseMix reads "PTT:5,P00:-4": per term three characters (P or 0: the
// picture; T or 0: the prompt for the spatial layers; T or 0: for the motion
// modules), optionally g (the global motion modules left out) or m (every
// motion module left out), and a weight; the weights sum to 1.
func parseMix(mix string) ([]term, error) {
	var ts []term
	sum := 0.0
	for _, f := range strings.Split(mix, ",") {
		code, w, ok := strings.Cut(f, ":")
		var t term
		if len(code) == 4 {
			switch code[3] {
			case 'g':
				t.skip = towers.SkipGlobal
			case 'm':
				t.skip = towers.SkipGlobal | towers.SkipLocal
			default:
				return nil, fmt.Errorf("-mix term %q: a fourth character is g or m", f)
			}
			code = code[:3]
		}
		if _, err := fmt.Sscanf(w, "%g", &t.w); !ok || len(code) != 3 || err != nil {
			return nil, fmt.Errorf("-mix term %q is not like PTT:5", f)
		}
		t.picture, t.spatialText, t.motionText = code[0] == 'P', code[1] == 'T', code[2] == 'T'
		ts = append(ts, t)
		sum += t.w
	}
	if math.Abs(sum-1) > 1e-6 {
		return nil, fmt.Errorf("-mix %q: weights sum to %g, not 1", mix, sum)
	}
	return ts, nil
}

// mixed is a denoiser for one video that sums model outputs by weight
// (terms). Image-to-video (first set): without the picture frame 0 is the
// picture noised to the step's timestep (as text-to-video training sees a
// clip) and a model's first-frame channels are zero; with it frame 0 is held
// clean at t = 0 (ForwardFirstFrame). Text-to-video (first nil): every term
// is the plain model with its spatial and motion prompts.
func mixed(m *towers.MotionUNet, terms []term, ctx2, first []float32, ac []float64, F, side, L int, seed int64) diffusion.Denoiser {
	fl, LD := len(first), len(ctx2)/2
	views := map[towers.MotionSkip]*towers.MotionUNet{}
	for _, tm := range terms {
		if tm.skip != 0 && views[tm.skip] == nil {
			views[tm.skip] = m.WithoutMotion(tm.skip)
		}
	}
	eps0 := make([]float32, fl)
	diffusion.Noise(seed+1<<40, 0).Fill(eps0, 1)
	row := func(text bool) []float32 {
		if text {
			return ctx2[LD:]
		}
		return ctx2[:LD]
	}
	return func(out, in []float32, rows int, t float32, _ []float32) error {
		acc, tmp := make([]float64, len(in)), make([]float32, len(in))
		for _, tm := range terms {
			sc, mc := row(tm.spatialText), row(tm.motionText)
			m := m
			if tm.skip != 0 {
				m = views[tm.skip]
			}
			if first == nil {
				if err := m.ForwardMotionText(tmp, in, 1, F, side, side, []float32{t}, sc, mc, L); err != nil {
					return err
				}
			} else if tm.picture {
				if err := m.ForwardFirstFrameMotionText(tmp, in, first, 1, F, side, side, t, sc, mc, L); err != nil {
					return err
				}
			} else {
				x := append([]float32(nil), in...)
				a := ac[min(int(t+0.5), len(ac)-1)]
				for q := range first {
					x[q] = float32(math.Sqrt(a)*float64(first[q]) + math.Sqrt(1-a)*float64(eps0[q]))
				}
				if err := m.ForwardMotionText(tmp, x, 1, F, side, side, []float32{t}, sc, mc, L); err != nil {
					return err
				}
			}
			for q, v := range tmp {
				acc[q] += tm.w * float64(v)
			}
		}
		for q, v := range acc {
			out[q] = float32(v)
		}
		return nil
	}
}

// readFirstFrames captions the first frames of n random clips with the
// captioner in dir, as they are (CaptionText) and with the object moved to
// the middle (CaptionCentred, what image-to-video uses), and counts the
// captions that name exactly the clip's object.
func readFirstFrames(dir string, n int, seed uint64) error {
	c, err := towers.LoadCaptionerFolder(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(seed, 0xf1a5))
	plain, centred := 0, 0
	for i := 0; i < n; i++ {
		clip := shapes.RandomClip(r)
		o := clip.Scene(0).Objects[0]
		pic := shapes.Render(clip.Scene(0))
		right := func(caption string) bool {
			objs, err := shapes.ParseCaption(caption)
			return err == nil && len(objs) == 1 && objs[0].Shape == o.Shape && objs[0].Colour == o.Colour && objs[0].Size == o.Size
		}
		a, err := c.CaptionText(pic)
		if err != nil {
			return err
		}
		b, err := c.CaptionCentred(pic)
		if err != nil {
			return err
		}
		if right(a) {
			plain++
		}
		if right(b) {
			centred++
		}
		if !right(a) || !right(b) {
			fmt.Printf("%3d a %s %s %s at (%.0f, %.0f): as it is %q, centred %q\n", i, o.Size, o.Colour, o.Shape, o.CX, o.CY, a, b)
		}
	}
	fmt.Printf("first frames captioned right: %d/%d as they are, %d/%d centred\n", plain, n, centred, n)
	return nil
}
