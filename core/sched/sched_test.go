package sched

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"
)

// Goldens from tools/diffusion/goldens.py (its sched.py reference, torch's
// float32 ᾱ): per sampler and prediction type, the timesteps, sigmas, and a
// replay of 8 steps on 6 values with stored model outputs and noise, plus an
// image-to-image start. Tolerances: ᾱ is float64 here and float32 in the
// reference (as in diffusers); 1-ᾱ near t=0 is ~1e-3, so its float32
// rounding moves the smallest σ by ~4e-5 relative, and trajectories by ~1e-6.
const (
	tolSchedule   = 2e-6 // relative, timesteps/ᾱ/initial σ
	tolSigma      = 1e-4 // relative, σ per step (the smallest carries the float32 rounding)
	tolTrajectory = 2e-5 // per value, relative to max(1, |reference|)
)

type goldenCase struct {
	Kind           string      `json:"kind"`
	Config         Config      `json:"config"`
	Steps          int         `json:"steps"`
	Timesteps      []float64   `json:"timesteps"`
	Sigmas         []float64   `json:"sigmas"`
	InitNoiseSigma float64     `json:"init_noise_sigma"`
	XInit          []float64   `json:"x_init"`
	ModelOut       [][]float64 `json:"model_out"`
	Noise          [][]float64 `json:"noise"`
	Scaled         [][]float64 `json:"scaled"`
	Trajectory     [][]float64 `json:"trajectory"`
	Img2Img        struct {
		Strength float64   `json:"strength"`
		Start    int       `json:"start"`
		X0       []float64 `json:"x0"`
		Noisy    []float64 `json:"noisy"`
	} `json:"img2img"`
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1e-12)
}

// maxAbs is the largest difference, relative where |want| > 1.
func maxAbs(got []float32, want []float64) float64 {
	var m float64
	for i := range want {
		d := math.Abs(float64(got[i])-want[i]) / math.Max(1, math.Abs(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}

func TestSamplersMatchReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/sched_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gold struct {
		AlphasCumprodAt map[string]float64 `json:"alphas_cumprod_at"`
		Cases           []goldenCase       `json:"cases"`
	}
	if err := json.Unmarshal(raw, &gold); err != nil {
		t.Fatal(err)
	}
	ac := AlphasCumprod(Config{})
	for k, want := range gold.AlphasCumprodAt {
		var i int
		fmt.Sscan(k, &i)
		if !relClose(ac[i], want, tolSchedule) {
			t.Errorf("ᾱ[%d] = %.9g, reference %.9g", i, ac[i], want)
		}
	}
	if len(gold.Cases) < 12 {
		t.Fatalf("only %d golden cases", len(gold.Cases))
	}
	for ci, c := range gold.Cases {
		name := fmt.Sprintf("%d_%s_%s_%s", ci, c.Kind, c.Config.PredictionType, c.Config.TimestepSpacing)
		t.Run(name, func(t *testing.T) {
			s, err := New(c.Kind, c.Config, c.Steps)
			if err != nil {
				t.Fatal(err)
			}
			ts := s.Timesteps()
			if len(ts) != len(c.Timesteps) {
				t.Fatalf("timesteps %v, reference %v", ts, c.Timesteps)
			}
			for i := range ts {
				if !relClose(ts[i], c.Timesteps[i], 1e-12) {
					t.Fatalf("timesteps %v, reference %v", ts, c.Timesteps)
				}
			}
			if sg := Sigmas(s); sg != nil {
				for i := range sg {
					if !relClose(sg[i], c.Sigmas[i], tolSigma) {
						t.Errorf("sigma[%d] = %.9g, reference %.9g", i, sg[i], c.Sigmas[i])
					}
				}
			}
			if !relClose(s.InitNoiseSigma(), c.InitNoiseSigma, tolSchedule) {
				t.Errorf("init noise sigma %g, reference %g", s.InitNoiseSigma(), c.InitNoiseSigma)
			}
			x := f32(c.XInit)
			in := make([]float32, len(x))
			for i := 0; i < c.Steps; i++ {
				s.ScaleInput(in, x, i)
				if d := maxAbs(in, c.Scaled[i]); d > tolTrajectory {
					t.Errorf("step %d: scaled input off by %g", i, d)
				}
				if err := s.Step(x, f32(c.ModelOut[i]), i, f32(c.Noise[i])); err != nil {
					t.Fatal(err)
				}
				if d := maxAbs(x, c.Trajectory[i]); d > tolTrajectory {
					t.Errorf("step %d: latents off by %g (%v vs %v)", i, d, x, c.Trajectory[i])
				}
			}
			start, err := Img2ImgStart(c.Steps, c.Img2Img.Strength)
			if err != nil || start != c.Img2Img.Start {
				t.Fatalf("img2img start %d (%v), reference %d", start, err, c.Img2Img.Start)
			}
			noisy := make([]float32, len(c.Img2Img.X0))
			s.AddNoise(noisy, f32(c.Img2Img.X0), f32(c.Noise[0]), start)
			if d := maxAbs(noisy, c.Img2Img.Noisy); d > tolTrajectory {
				t.Errorf("img2img noised latents off by %g", d)
			}
		})
	}
}

func TestSamplerErrors(t *testing.T) {
	if _, err := New("heun", Config{}, 10); err == nil {
		t.Error("unknown sampler accepted")
	}
	if _, err := New("euler", Config{}, 0); err == nil {
		t.Error("zero steps accepted")
	}
	if _, err := New("euler", Config{PredictionType: "sample"}, 10); err == nil {
		t.Error("unsupported prediction type accepted")
	}
	if _, err := New("ddim", Config{BetaStart: 0.1, BetaEnd: 0.01}, 10); err == nil {
		t.Error("decreasing betas accepted")
	}
	s, err := New("euler_a", Config{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 3)
	if err := s.Step(x, make([]float32, 3), 0, nil); err == nil {
		t.Error("ancestral step without noise accepted")
	}
	if err := s.Step(x, make([]float32, 2), 0, make([]float32, 3)); err == nil {
		t.Error("short model output accepted")
	}
	if err := s.Step(x, make([]float32, 3), 4, make([]float32, 3)); err == nil {
		t.Error("step past the end accepted")
	}
	d, _ := New("dpmpp_2m", Config{}, 4)
	if err := d.Step(x, make([]float32, 3), 1, nil); err != nil {
		t.Errorf("dpm++ starting at step 1 (image-to-image): %v", err)
	}
	if err := d.Step(x, make([]float32, 3), 3, nil); err == nil {
		t.Error("dpm++ step out of order accepted")
	}
	for _, st := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := Img2ImgStart(10, st); err == nil {
			t.Errorf("strength %g accepted", st)
		}
	}
	if s, _ := Img2ImgStart(10, 1); s != 0 {
		t.Errorf("strength 1 starts at %d", s)
	}
	if s, _ := Img2ImgStart(10, 0); s != 10 {
		t.Errorf("strength 0 starts at %d", s)
	}
}

// A sampler driven by the exact ε of a known clean latent must land on it:
// with x_t = α x₀ + σ ε and the model answering ε, every deterministic
// sampler's final x̂₀ is x₀.
func TestSamplersRecoverCleanLatent(t *testing.T) {
	x0 := []float64{0.7, -1.2, 0.05, 2.0}
	for _, kind := range []string{"ddim", "euler", "dpmpp_2m"} {
		s, err := New(kind, Config{}, 12)
		if err != nil {
			t.Fatal(err)
		}
		n := NewNoise(7, 0)
		eps := make([]float32, len(x0))
		n.Fill(eps, 1)
		x := make([]float32, len(x0))
		s.AddNoise(x, f32(x0), eps, 0)
		for i := range s.Timesteps() {
			// The ε that explains the current x given x₀ (the perfect denoiser).
			out := make([]float32, len(x))
			a := AlphasCumprod(Config{})[int(math.Round(s.Timesteps()[i]))]
			if sg := Sigmas(s); sg != nil && kind == "euler" {
				for j := range x {
					out[j] = float32((float64(x[j]) - x0[j]) / sg[i])
				}
			} else {
				var al, sgm float64
				if sg != nil {
					al, sgm = alphaSigma(sg[i])
				} else {
					al, sgm = math.Sqrt(a), math.Sqrt(1-a)
				}
				for j := range x {
					out[j] = float32((float64(x[j]) - al*x0[j]) / sgm)
				}
			}
			if err := s.Step(x, out, i, nil); err != nil {
				t.Fatal(err)
			}
		}
		if d := maxAbs(x, x0); d > 1e-4 {
			t.Errorf("%s: ends %g from the clean latent (%v)", kind, d, x)
		}
	}
}

func TestGuide(t *testing.T) {
	u, c := []float32{1, 2, -1}, []float32{2, 0, -1}
	out := make([]float32, 3)
	if err := Guide(out, u, c, 7.5); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float32{8.5, -13, -1} {
		if out[i] != want {
			t.Errorf("guide[%d] = %g, want %g", i, out[i], want)
		}
	}
	if err := Guide(out, u, c[:2], 1); err == nil {
		t.Error("mismatched halves accepted")
	}
}
