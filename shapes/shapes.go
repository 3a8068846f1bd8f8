// Package shapes is the Shapes world of ../shared/SHAPES.md: a deterministic
// renderer of 64×64 scenes with one or two objects, the caption/prompt grammar
// (rendering a scene's caption and parsing one back), and dataset sampling.
// Loom's own small models (captioner, image and video generators) are trained
// and evaluated on it.
package shapes

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Size is the canvas side in pixels.
const Size = 64

var (
	Shapes  = []string{"circle", "square", "triangle"}
	Colours = []string{"red", "green", "blue", "yellow", "purple", "orange"}
	Sizes   = []string{"small", "large"}
	// Places in caption order: a two-object caption lists objects left, top, center, bottom, right.
	Places = []string{"left", "top", "center", "bottom", "right"}
)

// colourRGB is each colour's sRGB centre.
var colourRGB = map[string][3]int{
	"red": {220, 40, 40}, "green": {40, 170, 60}, "blue": {40, 80, 220},
	"yellow": {240, 200, 30}, "purple": {140, 60, 180}, "orange": {245, 130, 30},
}

// sizeRange is each size's bounding-box side range in pixels (inclusive).
var sizeRange = map[string][2]int{"small": {10, 16}, "large": {22, 30}}

// placeRange is each place's range of bounding-box centres: x0, x1, y0, y1 (inclusive).
var placeRange = map[string][4]int{
	"left": {10, 22, 26, 38}, "right": {42, 54, 26, 38},
	"top": {26, 38, 10, 22}, "bottom": {26, 38, 42, 54},
	"center": {28, 36, 28, 36},
}

var placePhrase = map[string]string{
	"left": "on the left", "right": "on the right", "top": "at the top",
	"bottom": "at the bottom", "center": "in the center",
}

// Object is one object of a scene: its named attributes and the concrete
// geometry and colour a rendering gave it.
type Object struct {
	Shape, Colour, Size, Place string
	CX, CY                     float64 // bounding-box centre, pixels
	Side                       float64 // bounding-box side, pixels
	RGB                        [3]uint8
}

// Scene is one image's content.
type Scene struct {
	Objects    []Object // in caption order
	Background [3]uint8
	Antialias  bool
}

// Phrase is the object's caption phrase, e.g. "a small red circle on the left".
func (o Object) Phrase() string {
	return fmt.Sprintf("a %s %s %s %s", o.Size, o.Colour, o.Shape, placePhrase[o.Place])
}

// Caption renders the scene's caption in the grammar of SHAPES.md.
func (s Scene) Caption() string {
	parts := make([]string, len(s.Objects))
	for i, o := range s.Objects {
		parts[i] = o.Phrase()
	}
	return strings.Join(parts, " and ")
}

func placeIndex(p string) int {
	for i, q := range Places {
		if q == p {
			return i
		}
	}
	return -1
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

func uniformInt(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// Attrs names an object's attributes; empty fields are drawn at random.
type Attrs struct{ Shape, Colour, Size, Place string }

// RandomScene draws a scene: one or two objects (two with probability p2),
// every attribute uniform, colours jittered by up to ±25 per channel, sizes and
// positions uniform in their ranges, objects fully inside the canvas and not
// overlapping, hard or anti-aliased edges with equal probability.
func RandomScene(r *rand.Rand, p2 float64) Scene {
	n := 1
	if r.Float64() < p2 {
		n = 2
	}
	attrs := make([]Attrs, n)
	for i := range attrs {
		attrs[i] = Attrs{}
	}
	s, err := SceneOf(r, attrs)
	if err != nil {
		panic(err) // unreachable: random attributes always admit a placement
	}
	return s
}

// SceneOf draws a scene with the given attributes (empty fields random). Two
// objects get different places. It fails when the attributes cannot be placed
// without overlap (e.g. two objects at the same place).
func SceneOf(r *rand.Rand, attrs []Attrs) (Scene, error) {
	if len(attrs) < 1 || len(attrs) > 2 {
		return Scene{}, fmt.Errorf("shapes: a scene has 1 or 2 objects, not %d", len(attrs))
	}
	for try := 0; try < 200; try++ {
		sc := Scene{Antialias: r.IntN(2) == 0}
		for c := range sc.Background {
			sc.Background[c] = uint8(uniformInt(r, 235, 255))
		}
		used := map[string]bool{}
		ok := true
		for _, a := range attrs {
			o, err := drawObject(r, a, used)
			if err != nil {
				return Scene{}, err
			}
			used[o.Place] = true
			sc.Objects = append(sc.Objects, o)
		}
		if len(sc.Objects) == 2 {
			a, b := sc.Objects[0], sc.Objects[1]
			// Non-overlap with a 2 px gap between bounding boxes.
			if math.Abs(a.CX-b.CX) < (a.Side+b.Side)/2+2 && math.Abs(a.CY-b.CY) < (a.Side+b.Side)/2+2 {
				ok = false
			}
			if placeIndex(a.Place) > placeIndex(b.Place) {
				sc.Objects[0], sc.Objects[1] = b, a
			}
		}
		if ok {
			return sc, nil
		}
	}
	return Scene{}, fmt.Errorf("shapes: cannot place %v without overlap", attrs)
}

func drawObject(r *rand.Rand, a Attrs, used map[string]bool) (Object, error) {
	o := Object{Shape: a.Shape, Colour: a.Colour, Size: a.Size, Place: a.Place}
	if o.Shape == "" {
		o.Shape = pick(r, Shapes)
	}
	if o.Colour == "" {
		o.Colour = pick(r, Colours)
	}
	if o.Size == "" {
		o.Size = pick(r, Sizes)
	}
	if o.Place == "" {
		free := make([]string, 0, len(Places))
		for _, p := range Places {
			if !used[p] {
				free = append(free, p)
			}
		}
		o.Place = pick(r, free)
	} else if used[o.Place] {
		return o, fmt.Errorf("shapes: two objects at %q", o.Place)
	}
	rgb, okc := colourRGB[o.Colour]
	sr, oks := sizeRange[o.Size]
	pr, okp := placeRange[o.Place]
	if !okc || !oks || !okp || !validShape(o.Shape) {
		return o, fmt.Errorf("shapes: unknown attribute in %+v", a)
	}
	for c := range 3 {
		v := rgb[c] + uniformInt(r, -25, 25)
		o.RGB[c] = uint8(min(255, max(0, v)))
	}
	side := uniformInt(r, sr[0], sr[1])
	o.Side = float64(side)
	half := float64(side) / 2
	// Keep the whole object inside the canvas: clamp the centre range.
	x0, x1 := max(float64(pr[0]), half), min(float64(pr[1]), Size-half)
	y0, y1 := max(float64(pr[2]), half), min(float64(pr[3]), Size-half)
	o.CX = x0 + r.Float64()*(x1-x0)
	o.CY = y0 + r.Float64()*(y1-y0)
	return o, nil
}

// checkWords names the first of an object's words outside the grammar.
func checkWords(size, colour, shape string) error {
	if _, ok := sizeRange[size]; !ok {
		return fmt.Errorf("shapes: unknown size %q", size)
	}
	if _, ok := colourRGB[colour]; !ok {
		return fmt.Errorf("shapes: unknown colour %q", colour)
	}
	if !validShape(shape) {
		return fmt.Errorf("shapes: unknown shape %q", shape)
	}
	return nil
}

func validShape(s string) bool { return s == "circle" || s == "square" || s == "triangle" }

// inside reports whether point (x, y) lies in the object.
func (o Object) inside(x, y float64) bool {
	h := o.Side / 2
	dx, dy := x-o.CX, y-o.CY
	switch o.Shape {
	case "circle":
		return dx*dx+dy*dy <= h*h
	case "square":
		return math.Abs(dx) <= h && math.Abs(dy) <= h
	default: // upward triangle: base width Side, height Side·√3/2, centred in its box
		th := o.Side * math.Sqrt(3) / 2
		top := o.CY - th/2
		bot := o.CY + th/2
		if y < top || y > bot {
			return false
		}
		return math.Abs(dx) <= (y-top)/th*h
	}
}

// Render draws the scene. Anti-aliased scenes use 4×4 supersampled coverage;
// hard-edged ones sample each pixel's centre.
func Render(s Scene) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, Size, Size))
	ss := 1
	if s.Antialias {
		ss = 4
	}
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			c := [3]float64{float64(s.Background[0]), float64(s.Background[1]), float64(s.Background[2])}
			for _, o := range s.Objects {
				hit := 0
				for sy := 0; sy < ss; sy++ {
					for sx := 0; sx < ss; sx++ {
						if o.inside(float64(x)+(float64(sx)+0.5)/float64(ss), float64(y)+(float64(sy)+0.5)/float64(ss)) {
							hit++
						}
					}
				}
				if hit == 0 {
					continue
				}
				a := float64(hit) / float64(ss*ss)
				for k := range 3 {
					c[k] = c[k]*(1-a) + float64(o.RGB[k])*a
				}
			}
			img.SetRGBA(x, y, color.RGBA{uint8(math.Round(c[0])), uint8(math.Round(c[1])), uint8(math.Round(c[2])), 255})
		}
	}
	return img
}

// ParseCaption parses a caption (or prompt) of the grammar into its objects'
// attributes, in order. It rejects anything outside the grammar.
func ParseCaption(c string) ([]Attrs, error) {
	parts := strings.Split(c, " and ")
	if len(parts) > 2 {
		return nil, fmt.Errorf("shapes: more than two objects in %q", c)
	}
	out := make([]Attrs, 0, len(parts))
	for _, p := range parts {
		w := strings.Fields(p)
		if len(w) < 6 || w[0] != "a" {
			return nil, fmt.Errorf("shapes: %q is not 'a SIZE COLOUR SHAPE PLACE'", p)
		}
		a := Attrs{Size: w[1], Colour: w[2], Shape: w[3]}
		phrase := strings.Join(w[4:], " ")
		for k, v := range placePhrase {
			if v == phrase {
				a.Place = k
			}
		}
		if err := checkWords(a.Size, a.Colour, a.Shape); err != nil {
			return nil, err
		}
		if a.Place == "" {
			return nil, fmt.Errorf("shapes: unknown place %q", phrase)
		}
		out = append(out, a)
	}
	return out, nil
}

// Vocabulary is every word of the grammar, sorted, for word-level tokenizers.
func Vocabulary() []string {
	words := map[string]bool{"a": true, "and": true, "on": true, "the": true, "at": true, "in": true}
	for _, l := range [][]string{Shapes, Colours, Sizes, Places} {
		for _, w := range l {
			words[w] = true
		}
	}
	out := make([]string, 0, len(words))
	for w := range words {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}
