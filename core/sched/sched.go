// Package sched holds the samplers that turn a diffusion model's predictions
// into an image: DDIM (Song et al. 2020), Euler and Euler ancestral (Karras
// et al. 2022, "Elucidating the Design Space…") and DPM-Solver++(2M) (Lu et
// al. 2022), configured by a diffusers scheduler_config.json
// (num_train_timesteps, beta_start, beta_end, beta_schedule,
// prediction_type, timestep_spacing, steps_offset, set_alpha_to_one) and
// stepping as diffusers' DDIMScheduler, EulerDiscreteScheduler,
// EulerAncestralDiscreteScheduler and DPMSolverMultistepScheduler
// (dpmsolver++, order 2, midpoint, lower_order_final, final sigma zero) do,
// plus classifier-free guidance, image-to-image starts and a seeded Gaussian
// noise source that gives the same bytes on every machine.
//
// All schedule arithmetic is float64; latents are float32.
package sched

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Config is a scheduler_config.json. Zero values take diffusers' defaults.
type Config struct {
	NumTrainTimesteps int     `json:"num_train_timesteps"`
	BetaStart         float64 `json:"beta_start"`
	BetaEnd           float64 `json:"beta_end"`
	BetaSchedule      string  `json:"beta_schedule"`   // "scaled_linear" (SD) or "linear"
	PredictionType    string  `json:"prediction_type"` // "epsilon" or "v_prediction"
	TimestepSpacing   string  `json:"timestep_spacing"`
	StepsOffset       int     `json:"steps_offset"`
	SetAlphaToOne     *bool   `json:"set_alpha_to_one"`
	// RescaleBetasZeroSnr shifts and scales √ᾱ so the last training step is
	// pure noise (Lin et al. 2024, "Common Diffusion Noise Schedules and
	// Sample Steps are Flawed"); with ε-prediction that step is undefined, so
	// it needs v_prediction.
	RescaleBetasZeroSnr bool `json:"rescale_betas_zero_snr"`
	// Eta is DDIM's stochasticity (0: deterministic DDIM, 1: DDPM-like). It
	// is a call argument in diffusers; Loom keeps it with the schedule.
	Eta float64 `json:"eta"`
}

// ReadConfig reads a scheduler_config.json.
func ReadConfig(path string) (Config, error) {
	var c Config
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("scheduler config %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) fill() {
	if c.NumTrainTimesteps == 0 {
		c.NumTrainTimesteps = 1000
	}
	if c.BetaStart == 0 {
		c.BetaStart = 0.00085
	}
	if c.BetaEnd == 0 {
		c.BetaEnd = 0.012
	}
	if c.BetaSchedule == "" {
		c.BetaSchedule = "scaled_linear"
	}
	if c.PredictionType == "" {
		c.PredictionType = "epsilon"
	}
}

func (c *Config) validate() error {
	switch {
	case c.NumTrainTimesteps < 2 || c.NumTrainTimesteps > 1<<20:
		return fmt.Errorf("sched: num_train_timesteps %d", c.NumTrainTimesteps)
	case !(c.BetaStart > 0 && c.BetaEnd >= c.BetaStart && c.BetaEnd < 1):
		return fmt.Errorf("sched: betas %g..%g must satisfy 0 < start ≤ end < 1", c.BetaStart, c.BetaEnd)
	case c.BetaSchedule != "scaled_linear" && c.BetaSchedule != "linear":
		return fmt.Errorf("sched: beta_schedule %q not supported (scaled_linear, linear)", c.BetaSchedule)
	case c.PredictionType != "epsilon" && c.PredictionType != "v_prediction":
		return fmt.Errorf("sched: prediction_type %q not supported (epsilon, v_prediction)", c.PredictionType)
	case c.TimestepSpacing != "" && c.TimestepSpacing != "linspace" && c.TimestepSpacing != "leading" && c.TimestepSpacing != "trailing":
		return fmt.Errorf("sched: timestep_spacing %q not supported (linspace, leading, trailing)", c.TimestepSpacing)
	case c.StepsOffset < 0 || c.StepsOffset >= c.NumTrainTimesteps:
		return fmt.Errorf("sched: steps_offset %d", c.StepsOffset)
	case c.RescaleBetasZeroSnr && c.PredictionType != "v_prediction":
		return fmt.Errorf("sched: rescale_betas_zero_snr needs prediction_type v_prediction (ε-prediction is undefined at zero SNR)")
	case c.Eta < 0 || c.Eta > 1 || math.IsNaN(c.Eta):
		return fmt.Errorf("sched: eta %g outside [0, 1]", c.Eta)
	}
	return nil
}

// AlphasCumprod returns ᾱ_t = ∏(1 - β_s) for t = 0..N-1; scaled_linear
// spaces √β linearly (latent diffusion), linear spaces β; then the
// zero-terminal-SNR rescale when the config asks for it.
func AlphasCumprod(c Config) []float64 {
	c.fill()
	n := c.NumTrainTimesteps
	ac := make([]float64, n)
	prod := 1.0
	for i := range ac {
		f := float64(i) / float64(n-1)
		var beta float64
		if c.BetaSchedule == "linear" {
			beta = c.BetaStart + f*(c.BetaEnd-c.BetaStart)
		} else {
			s := math.Sqrt(c.BetaStart) + f*(math.Sqrt(c.BetaEnd)-math.Sqrt(c.BetaStart))
			beta = s * s
		}
		prod *= 1 - beta
		ac[i] = prod
	}
	if c.RescaleBetasZeroSnr {
		// √ᾱ shifted so its last value is 0 and scaled so its first is
		// unchanged; the last ᾱ is then raised from 0 to 2⁻²⁴ (as diffusers'
		// Euler schedulers do) so σ = √((1−ᾱ)/ᾱ) stays finite for every
		// sampler.
		first, last := math.Sqrt(ac[0]), math.Sqrt(ac[n-1])
		for i, a := range ac {
			r := (math.Sqrt(a) - last) * first / (first - last)
			ac[i] = r * r
		}
		ac[n-1] = zeroSNRLastAlpha
	}
	return ac
}

// zeroSNRLastAlpha stands for ᾱ = 0 at the last step of a zero-terminal-SNR
// schedule.
const zeroSNRLastAlpha = 1.0 / (1 << 24)

// Sampler walks a fixed number of steps from noise to a clean latent. Step i
// (0-based) calls the model at Timesteps()[i] on ScaleInput(x, i) and feeds
// the prediction to Step. A Sampler keeps history (DPM-Solver++) and is used
// for one generation only.
type Sampler interface {
	Timesteps() []float64
	// InitNoiseSigma scales unit Gaussian noise into the first latent.
	InitNoiseSigma() float64
	// ScaleInput sets dst to the model input for x at step i (dst may alias x).
	ScaleInput(dst, x []float32, i int)
	// Step advances x in place by one step given the model's prediction;
	// noise (same length, unit Gaussian) is read only when Stochastic().
	Step(x, modelOut []float32, i int, noise []float32) error
	Stochastic() bool
	// AddNoise sets dst to clean latents x0 noised to the level of step i,
	// where an image-to-image run starts.
	AddNoise(dst, x0, noise []float32, i int)
}

// Kinds lists the sampler names New accepts.
var Kinds = []string{"ddim", "euler", "euler_a", "dpmpp_2m"}

// New makes a sampler of kind (see Kinds) for steps steps.
func New(kind string, c Config, steps int) (Sampler, error) {
	c.fill()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if steps < 1 || steps > c.NumTrainTimesteps {
		return nil, fmt.Errorf("sched: %d steps (1..%d)", steps, c.NumTrainTimesteps)
	}
	b := base{cfg: c, ac: AlphasCumprod(c), steps: steps, v: c.PredictionType == "v_prediction"}
	spacing := c.TimestepSpacing
	switch kind {
	case "ddim":
		if spacing == "" {
			spacing = "leading"
		}
		b.ts = timesteps(c, steps, spacing)
		if err := b.checkTimesteps(); err != nil {
			return nil, err
		}
		return &ddim{base: b}, nil
	case "euler", "euler_a":
		if spacing == "" {
			spacing = "linspace"
		}
		b.ts = timesteps(c, steps, spacing)
		if err := b.checkTimesteps(); err != nil {
			return nil, err
		}
		b.sigmaSchedule()
		s := &euler{base: b, ancestral: kind == "euler_a"}
		s.init = b.sigmas[0]
		for _, v := range b.sigmas {
			s.init = math.Max(s.init, v)
		}
		if spacing == "leading" {
			s.init = math.Sqrt(s.init*s.init + 1)
		}
		return s, nil
	case "dpmpp_2m":
		if spacing == "" || spacing == "linspace" {
			// DPM-Solver's linspace takes steps+1 rounded points and drops the last (t=0).
			n := c.NumTrainTimesteps
			b.ts = make([]float64, steps)
			for i := range b.ts {
				b.ts[i] = math.RoundToEven(float64(steps-i) * (float64(n-1) / float64(steps)))
			}
		} else {
			b.ts = timesteps(c, steps, spacing)
		}
		if err := b.checkTimesteps(); err != nil {
			return nil, err
		}
		b.sigmaSchedule()
		return &dpm{base: b}, nil
	}
	return nil, fmt.Errorf("sched: unknown sampler %q (want one of %v)", kind, Kinds)
}

// timesteps spaces steps model timesteps over the training range, first
// (noisiest) first.
func timesteps(c Config, steps int, spacing string) []float64 {
	n := c.NumTrainTimesteps
	ts := make([]float64, steps)
	switch spacing {
	case "linspace":
		for i := range ts {
			if steps == 1 {
				ts[i] = 0 // numpy's linspace with one point gives its start
				break
			}
			// numpy's linspace: k·step, with the endpoint exact.
			ts[i] = float64(steps-1-i) * (float64(n-1) / float64(steps-1))
			if i == 0 {
				ts[i] = float64(n - 1)
			}
		}
	case "leading":
		r := n / steps
		for i := range ts {
			ts[i] = float64((steps-1-i)*r + c.StepsOffset)
		}
	case "trailing":
		r := float64(n) / float64(steps)
		for i := range ts {
			ts[i] = math.RoundToEven(float64(n)-float64(i)*r) - 1
		}
	}
	return ts
}

type base struct {
	cfg    Config
	ac     []float64 // ᾱ (N)
	ts     []float64 // (steps)
	sigmas []float64 // (steps+1): σ at each timestep, then 0
	steps  int
	v      bool // v_prediction
}

func (b *base) Timesteps() []float64 { return b.ts }

// checkTimesteps refuses a schedule whose timesteps leave [0, N-1]
// (steps_offset can push "leading" ones past the end).
func (b *base) checkTimesteps() error {
	for _, t := range b.ts {
		if !(t >= 0 && t <= float64(b.cfg.NumTrainTimesteps-1)) {
			return fmt.Errorf("sched: timestep %g outside the training schedule (steps_offset %d, %d steps)", t, b.cfg.StepsOffset, b.steps)
		}
	}
	return nil
}

// sigmaSchedule sets σ_t = √((1-ᾱ)/ᾱ) at each (possibly fractional)
// timestep, linearly interpolated, and a final 0.
func (b *base) sigmaSchedule() {
	b.sigmas = make([]float64, len(b.ts)+1)
	for i, t := range b.ts {
		lo := int(math.Floor(t))
		f := t - float64(lo)
		s := func(k int) float64 { return math.Sqrt((1 - b.ac[k]) / b.ac[k]) }
		b.sigmas[i] = s(lo)
		if f > 0 && lo+1 < len(b.ac) {
			b.sigmas[i] = s(lo) + f*(s(lo+1)-s(lo))
		}
	}
}

// Sigmas returns σ per step and the final 0 (nil for DDIM, which has none).
func Sigmas(s Sampler) []float64 {
	switch v := s.(type) {
	case *euler:
		return v.sigmas
	case *dpm:
		return v.sigmas
	}
	return nil
}

func checkStep(b *base, x, out []float32, i int, noise []float32, stochastic bool) error {
	switch {
	case i < 0 || i >= len(b.ts):
		return fmt.Errorf("sched: step %d of %d", i, len(b.ts))
	case len(out) != len(x):
		return fmt.Errorf("sched: model output has %d values, latents %d", len(out), len(x))
	case stochastic && len(noise) != len(x):
		return fmt.Errorf("sched: stochastic step needs %d noise values, got %d", len(x), len(noise))
	}
	return nil
}

// ddim is DDIMScheduler: predict x₀ and ε, then jump to the previous
// timestep's noise level along them (eta adds fresh noise).
type ddim struct{ base }

func (s *ddim) InitNoiseSigma() float64 { return 1 }
func (s *ddim) Stochastic() bool        { return s.cfg.Eta > 0 }

func (s *ddim) ScaleInput(dst, x []float32, _ int) { copy(dst, x) }

func (s *ddim) alphaPrev(i int) float64 {
	prev := int(s.ts[i]) - s.cfg.NumTrainTimesteps/s.steps
	switch {
	case prev >= 0:
		return s.ac[prev]
	case s.cfg.SetAlphaToOne == nil || *s.cfg.SetAlphaToOne:
		return 1
	}
	return s.ac[0]
}

func (s *ddim) Step(x, out []float32, i int, noise []float32) error {
	if err := checkStep(&s.base, x, out, i, noise, s.Stochastic()); err != nil {
		return err
	}
	a := s.ac[int(s.ts[i])]
	ap := s.alphaPrev(i)
	b := 1 - a
	variance := (1 - ap) / (1 - a) * (1 - a/ap)
	std := s.cfg.Eta * math.Sqrt(variance)
	dirCoef := math.Sqrt(1 - ap - std*std)
	for j := range x {
		xv, ov := float64(x[j]), float64(out[j])
		var x0, eps float64
		if s.v {
			x0, eps = math.Sqrt(a)*xv-math.Sqrt(b)*ov, math.Sqrt(a)*ov+math.Sqrt(b)*xv
		} else {
			x0, eps = (xv-math.Sqrt(b)*ov)/math.Sqrt(a), ov
		}
		y := math.Sqrt(ap)*x0 + dirCoef*eps
		if std > 0 {
			y += std * float64(noise[j])
		}
		x[j] = float32(y)
	}
	return nil
}

func (s *ddim) AddNoise(dst, x0, noise []float32, i int) {
	a := s.ac[int(s.ts[i])]
	ca, cn := math.Sqrt(a), math.Sqrt(1-a)
	for j := range dst {
		dst[j] = float32(ca*float64(x0[j]) + cn*float64(noise[j]))
	}
}

// euler is EulerDiscreteScheduler (and, ancestral, its ancestral twin): the
// probability-flow ODE in σ, x' = (x - x̂₀)/σ, one Euler step per timestep.
type euler struct {
	base
	ancestral bool
	init      float64
}

func (s *euler) InitNoiseSigma() float64 { return s.init }
func (s *euler) Stochastic() bool        { return s.ancestral }

// ScaleInput divides by √(σ²+1): the model was trained on unit-variance inputs.
func (s *euler) ScaleInput(dst, x []float32, i int) {
	k := 1 / math.Sqrt(s.sigmas[i]*s.sigmas[i]+1)
	for j := range x {
		dst[j] = float32(float64(x[j]) * k)
	}
}

func (s *euler) Step(x, out []float32, i int, noise []float32) error {
	if err := checkStep(&s.base, x, out, i, noise, s.ancestral); err != nil {
		return err
	}
	sg, next := s.sigmas[i], s.sigmas[i+1]
	target, up := next, 0.0
	if s.ancestral {
		// Split the move to σ_next into a deterministic part down to σ_down
		// and fresh noise of σ_up, with σ_down² + σ_up² = σ_next².
		up = math.Sqrt(next * next * (sg*sg - next*next) / (sg * sg))
		target = math.Sqrt(next*next - up*up)
	}
	dt := target - sg
	for j := range x {
		xv, ov := float64(x[j]), float64(out[j])
		var x0 float64
		if s.v {
			x0 = ov*(-sg/math.Sqrt(sg*sg+1)) + xv/(sg*sg+1)
		} else {
			x0 = xv - sg*ov
		}
		y := xv + (xv-x0)/sg*dt
		if s.ancestral {
			y += float64(noise[j]) * up
		}
		x[j] = float32(y)
	}
	return nil
}

func (s *euler) AddNoise(dst, x0, noise []float32, i int) {
	for j := range dst {
		dst[j] = float32(float64(x0[j]) + float64(noise[j])*s.sigmas[i])
	}
}

// dpm is DPM-Solver++(2M): multistep second order in λ = log(α/σ) on the x₀
// predictions, first order on the first and last steps.
type dpm struct {
	base
	x0s  [2][]float64 // the last two x̂₀ (newest first)
	n    int          // steps taken
	last int          // the step taken last
}

func (s *dpm) InitNoiseSigma() float64            { return 1 }
func (s *dpm) Stochastic() bool                   { return false }
func (s *dpm) ScaleInput(dst, x []float32, _ int) { copy(dst, x) }

// alphaSigma maps the σ of the ODE to the (α_t, σ_t) of x_t = α_t x₀ + σ_t ε.
func alphaSigma(sg float64) (float64, float64) {
	a := 1 / math.Sqrt(sg*sg+1)
	return a, sg * a
}

func lambda(a, s float64) float64 { return math.Log(a) - math.Log(s) }

func (s *dpm) Step(x, out []float32, i int, _ []float32) error {
	if err := checkStep(&s.base, x, out, i, nil, false); err != nil {
		return err
	}
	// The first step may be any (image-to-image starts part-way); the rest
	// follow it in order, as the multistep update uses the step before.
	if s.n > 0 && i != s.last+1 {
		return fmt.Errorf("sched: dpm++ 2m steps must run in order: got step %d after %d", i, s.last)
	}
	s.last = i
	at, st := alphaSigma(s.sigmas[i])
	x0 := s.x0s[1]
	if len(x0) != len(x) {
		x0 = make([]float64, len(x))
	}
	for j := range x {
		xv, ov := float64(x[j]), float64(out[j])
		if s.v {
			x0[j] = at*xv - st*ov
		} else {
			x0[j] = (xv - st*ov) / at
		}
	}
	s.x0s[0], s.x0s[1] = x0, s.x0s[0]
	s.n++
	next := s.sigmas[i+1]
	if next == 0 { // the final step lands on x̂₀ itself
		for j := range x {
			x[j] = float32(x0[j])
		}
		return nil
	}
	a1, s1 := alphaSigma(next)
	h := lambda(a1, s1) - lambda(at, st)
	em := math.Expm1(-h) // e^{-h} - 1
	if s.n < 2 || i == len(s.ts)-1 {
		for j := range x {
			x[j] = float32(s1/st*float64(x[j]) - a1*em*x0[j])
		}
		return nil
	}
	ap, sp := alphaSigma(s.sigmas[i-1])
	h0 := lambda(at, st) - lambda(ap, sp)
	r0 := h0 / h
	m1 := s.x0s[1]
	for j := range x {
		d1 := (x0[j] - m1[j]) / r0
		x[j] = float32(s1/st*float64(x[j]) - a1*em*x0[j] - 0.5*a1*em*d1)
	}
	return nil
}

func (s *dpm) AddNoise(dst, x0, noise []float32, i int) {
	a, sg := alphaSigma(s.sigmas[i])
	for j := range dst {
		dst[j] = float32(a*float64(x0[j]) + sg*float64(noise[j]))
	}
}

// Img2ImgStart returns the first step an image-to-image run of steps steps
// takes at strength in [0, 1]: strength 1 starts from pure noise (step 0),
// strength 0 runs no step (returns steps).
func Img2ImgStart(steps int, strength float64) (int, error) {
	if !(strength >= 0 && strength <= 1) || steps < 1 {
		return 0, fmt.Errorf("sched: strength %g (0..1) with %d steps", strength, steps)
	}
	init := min(int(float64(steps)*strength), steps)
	return max(steps-init, 0), nil
}

// Guide sets out to classifier-free guidance (Ho & Salimans 2022):
// uncond + scale·(cond − uncond). out may alias either input.
func Guide(out, uncond, cond []float32, scale float32) error {
	if len(uncond) != len(cond) || len(out) < len(cond) {
		return fmt.Errorf("sched: guidance over %d unconditional and %d conditional values into %d", len(uncond), len(cond), len(out))
	}
	for i := range cond {
		u := uncond[i]
		out[i] = u + scale*(cond[i]-u)
	}
	return nil
}
