package sample

// PCG is O'Neill's PCG32 (XSH-RR output on a 64-bit LCG, "PCG: A Family of
// Simple Fast Space-Efficient Statistically Good Algorithms", 2014). Loom owns
// its generator instead of using math/rand so that the stream a job seed
// produces is fixed by this file alone: same seed, same draws, on every
// machine and every Go release.
type PCG struct {
	state, inc uint64
}

const pcgMult = 6364136223846793005

// NewPCG seeds a generator from a job seed. The seed is spread by SplitMix64
// so that nearby seeds (0, 1, 2, …) start far apart.
func NewPCG(seed int64) *PCG {
	s := uint64(seed)
	a := splitmix64(&s)
	b := splitmix64(&s)
	return NewPCGStream(a, b)
}

// NewPCGStream is the reference seeding (pcg32_srandom_r): initial state and
// stream selector (one of 2⁶³ independent sequences for the same state).
func NewPCGStream(initState, initSeq uint64) *PCG {
	p := &PCG{inc: initSeq<<1 | 1}
	p.Uint32()
	p.state += initState
	p.Uint32()
	return p
}

func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Uint32 returns the next 32 random bits.
func (p *PCG) Uint32() uint32 {
	old := p.state
	p.state = old*pcgMult + p.inc
	x := uint32((old>>18 ^ old) >> 27)
	rot := uint32(old >> 59)
	return x>>rot | x<<((-rot)&31)
}

// Float64 returns a uniform float64 in [0, 1) built from 53 random bits.
func (p *PCG) Float64() float64 {
	hi := uint64(p.Uint32()) >> 5 // 27 bits
	lo := uint64(p.Uint32()) >> 6 // 26 bits
	return float64(hi<<26|lo) / (1 << 53)
}
