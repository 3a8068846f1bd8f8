package kernels

import (
	"math"
	"testing"
)

// TestMoEGroupLimitedRouting checks DeepSeek-V3's routing on logits worked
// out by hand: sigmoid scores σ = [.953 .047 .881 .881 .269 .269 .5 .924]
// in four groups of two rank by their sums [1.0 1.762 .538 1.424], so only
// groups 1 and 3 (experts 2, 3, 6, 7) may be chosen: expert 0, the best
// overall, is not. The top two are 7, then 2 (tied with 3, lower index);
// a selection bias of +0.01 on expert 3 picks it instead, while its weight
// stays its unbiased σ. Weights are renormalised, then scaled by 2.5.
func TestMoEGroupLimitedRouting(t *testing.T) {
	logits := func() []float32 { return []float32{3, -3, 2, 2, -1, -1, 0, 2.5} }
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	cfg := MoEConfig{Experts: 8, TopK: 2, Gating: MoESigmoid, NormTopK: true, Groups: 4, GroupsUsed: 2, Scale: 2.5}
	topE, topW := make([]int32, 2), make([]float32, 2)
	moeRoute(&cfg, logits(), topE, topW)
	w7 := 2.5 * sig(2.5) / (sig(2.5) + sig(2))
	if topE[0] != 7 || topE[1] != 2 || math.Abs(float64(topW[0])-w7) > 1e-6 {
		t.Fatalf("groups: experts %v weights %v, want [7 2] [%.6f …]", topE, topW, w7)
	}
	cfg.Bias = make([]float32, 8)
	cfg.Bias[3] = 0.01
	moeRoute(&cfg, logits(), topE, topW)
	if topE[0] != 7 || topE[1] != 3 || math.Abs(float64(topW[0])-w7) > 1e-6 || math.Abs(float64(topW[1])-2.5+w7) > 1e-6 {
		t.Fatalf("bias: experts %v weights %v, want [7 3] with unbiased weights", topE, topW)
	}
	cfg.Groups, cfg.Bias = 0, nil
	moeRoute(&cfg, logits(), topE, topW)
	if topE[0] != 0 || topE[1] != 7 {
		t.Fatalf("no groups: experts %v, want [0 7]", topE)
	}
	bad := cfg
	bad.Groups, bad.GroupsUsed = 3, 1
	if err := bad.validate(make([]float32, 8), make([]float32, 8), 1, &MoEWeights{}); err == nil {
		t.Fatal("8 experts in 3 groups were accepted")
	}
	bad.Groups, bad.GroupsUsed, bad.Bias = 4, 2, make([]float32, 7)
	if err := bad.validate(make([]float32, 8), make([]float32, 8), 1, &MoEWeights{}); err == nil {
		t.Fatal("7 biases for 8 experts were accepted")
	}
}
