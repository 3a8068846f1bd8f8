// Package check reads Shapes frames back with classical computer vision, to
// judge generated videos (and images) against their prompts without asking
// any model: it estimates the background, segments the pixels that differ
// from it into connected blobs, measures each blob (coverage, centroid,
// core colour, the shape template — circle, square or triangle of the same
// area at the same centroid — it differs least from), names its shape, colour and size by the rules of
// ../../../shared/SHAPES.md, and fits a straight line to a clip's centroid
// track for the direction of motion.
//
// It shares nothing with the renderer in package shapes but the spec's
// tables (names, colour centres, size ranges), so a renderer bug cannot hide
// behind a matching checker bug; its tests read clips the renderer draws.
package check

import (
	"image"
	"math"
	"slices"
	"sort"

	"github.com/loomhq/loom/shapes"
)

// Thresholds, in 8-bit units and pixels. A Shapes colour differs from the
// near-white background by at least ~150 in some channel, so a pixel is
// foreground from about a quarter coverage up; noise specks of generated
// frames fall under minBlobArea.
const (
	fgThreshold   = 40  // max-channel distance from the background
	minBlobArea   = 8   // coverage-weighted pixels
	maxColourDist = 60  // beyond this from every centre the colour is unknown (jitter reaches 25·√3 ≈ 43)
	sizeSplit     = 19  // side between small (10–16) and large (22–30)
	minTravel     = 6   // pixels over the clip below which nothing moved
	maxCrossRatio = 0.5 // cross-axis drift allowed, relative to the travel along the motion
)

// Blob is one connected region of foreground pixels (8-connected).
type Blob struct {
	Pixels  int     // foreground pixels
	Area    float64 // coverage-weighted pixels
	CX, CY  float64 // coverage-weighted centroid (pixel centres at +0.5)
	Touches bool    // reaches the canvas border: possibly cut off
	RGB     [3]uint8
	// The template that fits best: "circle", "square" or "triangle" of
	// bounding-box side Side with the blob's area and centroid, and its
	// misfit (the summed coverage difference over the blob's area).
	Shape  string
	Side   float64
	Misfit float64
}

// Size names the blob's size class, "small" or "large".
func (b Blob) Size() string {
	if b.Side < sizeSplit {
		return "small"
	}
	return "large"
}

// Colour names the nearest colour centre of the spec, or "" when every
// centre is farther than a jittered colour can be.
func (b Blob) Colour() string {
	best, bd := "", math.Inf(1)
	for _, name := range shapes.Colours {
		c, _ := shapes.ColourRGB(name)
		d := 0.0
		for k := range 3 {
			e := float64(b.RGB[k]) - float64(c[k])
			d += e * e
		}
		if d < bd {
			best, bd = name, d
		}
	}
	if math.Sqrt(bd) > maxColourDist {
		return ""
	}
	return best
}

// Frame is one image's reading.
type Frame struct {
	Background [3]uint8
	Blobs      []Blob // largest first
}

// ReadFrame segments one image.
func ReadFrame(img image.Image) Frame {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	px := make([][3]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			px[y*w+x] = [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}
		}
	}
	f := Frame{Background: medianColour(px)}
	dist := make([]float64, w*h)
	for i, p := range px {
		d := 0.0
		for k := range 3 {
			d = max(d, math.Abs(float64(p[k])-float64(f.Background[k])))
		}
		dist[i] = d
	}
	seen := make([]bool, w*h)
	var stack, members []int
	for start := range dist {
		if seen[start] || dist[start] < fgThreshold {
			continue
		}
		members = members[:0]
		stack = append(stack[:0], start)
		seen[start] = true
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			members = append(members, i)
			x, y := i%w, i/w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					j := ny*w + nx
					if !seen[j] && dist[j] >= fgThreshold {
						seen[j] = true
						stack = append(stack, j)
					}
				}
			}
		}
		if blob, ok := measure(members, px, dist, w, h); ok {
			f.Blobs = append(f.Blobs, blob)
		}
	}
	sort.SliceStable(f.Blobs, func(i, j int) bool { return f.Blobs[i].Area > f.Blobs[j].Area })
	return f
}

// measure turns a component's pixels into a Blob. Coverage is the pixel's
// distance from the background over the blob's full-colour distance (the
// 90th percentile, so one outlier does not set it): an anti-aliased edge
// pixel a% covered lies a% of the way from background to object colour.
func measure(members []int, px [][3]uint8, dist []float64, w, h int) (Blob, bool) {
	ds := make([]float64, len(members))
	for k, i := range members {
		ds[k] = dist[i]
	}
	slices.Sort(ds)
	full := ds[min(len(ds)-1, len(ds)*9/10)]
	b := Blob{Pixels: len(members)}
	cover := make(map[int]float64, len(members))
	var core [][3]uint8
	var sx, sy float64
	x0, y0, x1, y1 := w, h, 0, 0
	for _, i := range members {
		x, y := i%w, i/w
		a := min(1, dist[i]/full)
		cover[i] = a
		b.Area += a
		sx += a * (float64(x) + 0.5)
		sy += a * (float64(y) + 0.5)
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
		if x == 0 || y == 0 || x == w-1 || y == h-1 {
			b.Touches = true
		}
		if a >= 0.9 {
			core = append(core, px[i])
		}
	}
	if b.Area < minBlobArea {
		return Blob{}, false
	}
	b.CX, b.CY = sx/b.Area, sy/b.Area
	b.RGB = medianColour(core)
	// Match each shape's template, sized to the blob's area and placed at
	// its centroid, over the blob's box and a 2 px margin; sharp, and
	// softened by a 3×3 box blur as a decoder's output is.
	wx0, wy0, wx1, wy1 := max(0, x0-2), max(0, y0-2), min(w-1, x1+2), min(h-1, y1+2)
	ww, wh := wx1-wx0+1, wy1-wy0+1
	sharp, soft := make([]float64, ww*wh), make([]float64, ww*wh)
	b.Misfit = math.Inf(1)
	for _, t := range templates {
		side := math.Sqrt(b.Area / t.areaPerSide2)
		cx, cy := b.CX, b.CY+t.centroidDrop*side
		for y := range wh {
			for x := range ww {
				sharp[y*ww+x] = t.coverage(float64(wx0+x)-cx, float64(wy0+y)-cy, side)
			}
		}
		boxBlur(soft, sharp, ww, wh)
		for _, tc := range [][]float64{sharp, soft} {
			miss := 0.0
			for y := range wh {
				for x := range ww {
					miss += math.Abs(cover[(wy0+y)*w+wx0+x] - tc[y*ww+x])
				}
			}
			if miss /= b.Area; miss < b.Misfit {
				b.Shape, b.Side, b.Misfit = t.name, side, miss
			}
		}
	}
	return b, true
}

// boxBlur is the 3×3 mean of src (w×h) into dst, averaging only the
// neighbours inside.
func boxBlur(dst, src []float64, w, h int) {
	for y := range h {
		for x := range w {
			sum, n := 0.0, 0.0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if nx, ny := x+dx, y+dy; nx >= 0 && ny >= 0 && nx < w && ny < h {
						sum += src[ny*w+nx]
						n++
					}
				}
			}
			dst[y*w+x] = sum / n
		}
	}
}

// template is one shape of the spec, in its bounding box of side s centred
// at the origin.
type template struct {
	name         string
	areaPerSide2 float64                    // area / s²
	centroidDrop float64                    // (box centre − centroid) in y, over s
	inside       func(x, y, s float64) bool // point relative to the box centre
}

var templates = []template{
	{"circle", math.Pi / 4, 0, func(x, y, s float64) bool { return x*x+y*y <= s*s/4 }},
	{"square", 1, 0, func(x, y, s float64) bool { return math.Abs(x) <= s/2 && math.Abs(y) <= s/2 }},
	// Upward and equilateral: base s, height s·√3/2, apex at the top; its
	// centroid sits a third of the height above the base, a sixth of the
	// height below the box centre.
	{"triangle", math.Sqrt(3) / 4, -math.Sqrt(3) / 12, func(x, y, s float64) bool {
		th := s * math.Sqrt(3) / 2
		d := y + th/2 // depth below the apex
		return d >= 0 && d <= th && math.Abs(x) <= d/th*s/2
	}},
}

// coverage is the share of pixel (px, py)…(px+1, py+1), relative to the box
// centre, that the shape covers: 4×4 samples.
func (t template) coverage(px, py, s float64) float64 {
	n := 0
	for j := 0; j < 4; j++ {
		for i := 0; i < 4; i++ {
			if t.inside(px+(float64(i)+0.5)/4, py+(float64(j)+0.5)/4, s) {
				n++
			}
		}
	}
	return float64(n) / 16
}

// medianColour is the per-channel median.
func medianColour(px [][3]uint8) [3]uint8 {
	var out [3]uint8
	if len(px) == 0 {
		return out
	}
	for k := range 3 {
		var hist [256]int
		for _, p := range px {
			hist[p[k]]++
		}
		n := 0
		for v, c := range hist {
			n += c
			if 2*n > len(px) {
				out[k] = uint8(v)
				break
			}
		}
	}
	return out
}

// Clip is a video's reading.
type Clip struct {
	Frames  []Frame
	Objects int // the most blobs in any frame: a one-object clip has 1
	Single  int // frames with exactly one blob
	// The object's attributes by majority over the frames where a single
	// blob lies wholly inside the canvas (all single-blob frames if none
	// does); "" when no frame has a single blob. Agreement is the share of
	// those frames that voted with the majority, per attribute.
	Shape, Colour, Size string
	Agreement           map[string]float64
	// The centroid track's least-squares line over the single-blob frames
	// (those wholly inside the canvas, when two or more are): velocity in pixels per frame (y down) and the RMS distance of the
	// centroids from the line.
	VX, VY, Residual float64
	// Direction is left, right, up or down when the object travelled at
	// least 6 px along one axis with at most half as much across it; "none"
	// when it travelled less, "" when it drifted diagonally or could not be
	// tracked (fewer than two single-blob frames).
	Direction string
}

// ReadClip reads every frame and the motion across them.
func ReadClip(frames []image.Image) Clip {
	c := Clip{Agreement: map[string]float64{}}
	var ts, xs, ys []float64 // the track over the single-blob frames
	var voters, all []Blob
	var inner []int // indices into ts of the frames whose blob is wholly inside
	for i, img := range frames {
		f := ReadFrame(img)
		c.Frames = append(c.Frames, f)
		c.Objects = max(c.Objects, len(f.Blobs))
		if len(f.Blobs) != 1 {
			continue
		}
		c.Single++
		b := f.Blobs[0]
		ts, xs, ys = append(ts, float64(i)), append(xs, b.CX), append(ys, b.CY)
		all = append(all, b)
		if !b.Touches {
			voters = append(voters, b)
			inner = append(inner, len(ts)-1)
		}
	}
	if len(voters) == 0 {
		voters = all
	}
	// A blob cut off by the border has its centroid pulled inwards, so the
	// track is fitted to the wholly inside frames when there are two.
	if len(inner) >= 2 {
		ts, xs, ys = pickAt(ts, inner), pickAt(xs, inner), pickAt(ys, inner)
	}
	if len(voters) > 0 {
		c.Shape = vote(voters, func(b Blob) string { return b.Shape }, "shape", c.Agreement)
		c.Colour = vote(voters, Blob.Colour, "colour", c.Agreement)
		c.Size = vote(voters, Blob.Size, "size", c.Agreement)
	}
	if len(ts) < 2 {
		return c
	}
	var ax, ay float64
	ax, c.VX = fitLine(ts, xs)
	ay, c.VY = fitLine(ts, ys)
	var ss float64
	for k, t := range ts {
		ex, ey := xs[k]-(ax+c.VX*t), ys[k]-(ay+c.VY*t)
		ss += ex*ex + ey*ey
	}
	c.Residual = math.Sqrt(ss / float64(len(ts)))
	span := ts[len(ts)-1] - ts[0]
	tx, ty := math.Abs(c.VX)*span, math.Abs(c.VY)*span
	switch {
	case max(tx, ty) < minTravel:
		c.Direction = "none"
	case tx >= ty && ty <= maxCrossRatio*tx:
		c.Direction = map[bool]string{true: "right", false: "left"}[c.VX > 0]
	case ty > tx && tx <= maxCrossRatio*ty:
		c.Direction = map[bool]string{true: "down", false: "up"}[c.VY > 0]
	}
	return c
}

// vote returns the most common name (ties: the first reached) and records
// its share.
func vote(bs []Blob, name func(Blob) string, key string, agreement map[string]float64) string {
	counts := map[string]int{}
	best := ""
	for _, b := range bs {
		n := name(b)
		counts[n]++
		if counts[n] > counts[best] || best == "" && n != "" {
			best = n
		}
	}
	agreement[key] = float64(counts[best]) / float64(len(bs))
	return best
}

func pickAt(vs []float64, at []int) []float64 {
	out := make([]float64, len(at))
	for k, i := range at {
		out[k] = vs[i]
	}
	return out
}

// fitLine is the least-squares line v ≈ a + b·t.
func fitLine(ts, vs []float64) (a, b float64) {
	n := float64(len(ts))
	var st, sv, stt, stv float64
	for k, t := range ts {
		st += t
		sv += vs[k]
		stt += t * t
		stv += t * vs[k]
	}
	den := n*stt - st*st
	if den == 0 {
		return sv / n, 0
	}
	b = (n*stv - st*sv) / den
	return (sv - b*st) / n, b
}

// Mismatches lists the attributes of the prompt the clip gets wrong, by
// name ("objects" when it does not show exactly one object); empty means the
// clip is right.
func (c Clip) Mismatches(want shapes.VideoAttrs) []string {
	var bad []string
	if c.Objects != 1 {
		bad = append(bad, "objects")
	}
	for _, f := range []struct{ name, got, want string }{
		{"shape", c.Shape, want.Shape}, {"colour", c.Colour, want.Colour},
		{"size", c.Size, want.Size}, {"direction", c.Direction, want.Direction},
	} {
		if f.got != f.want {
			bad = append(bad, f.name)
		}
	}
	return bad
}
