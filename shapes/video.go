package shapes

// The motion world of SHAPES.md "Videos": one object of the image spec
// moving in a straight line at constant speed across 16 frames of 64×64,
// prompted "a SIZE COLOUR SHAPE moving DIRECTION".

import (
	"fmt"
	"image"
	"math/rand/v2"
	"strings"
)

// Frames is a clip's length.
const Frames = 16

// Directions are the motion directions of the video grammar.
var Directions = []string{"left", "right", "up", "down"}

// framesInside is how many leading frames keep the whole object on the
// canvas; the spec asks for at least 12 of the 16.
const framesInside = 12

// VideoAttrs names a clip's object and motion; empty fields are drawn at random.
type VideoAttrs struct{ Shape, Colour, Size, Direction string }

// Clip is one video's content: its object as it stands in frame 0 (Place is
// empty: a moving object has no place), the direction and speed it moves at.
type Clip struct {
	Object     Object
	Direction  string
	Speed      float64 // pixels per frame along Direction
	Frames     int
	Background [3]uint8
	Antialias  bool
}

// Attrs are the clip's named attributes.
func (c Clip) Attrs() VideoAttrs {
	return VideoAttrs{Shape: c.Object.Shape, Colour: c.Object.Colour, Size: c.Object.Size, Direction: c.Direction}
}

// Prompt renders the clip's prompt, e.g. "a large green triangle moving right".
func (c Clip) Prompt() string { return c.Attrs().Prompt() }

// Prompt renders the attributes' prompt in the video grammar.
func (a VideoAttrs) Prompt() string {
	return fmt.Sprintf("a %s %s %s moving %s", a.Size, a.Colour, a.Shape, a.Direction)
}

// direction is a unit step in image coordinates (y grows downwards).
func direction(d string) (dx, dy float64, ok bool) {
	switch d {
	case "left":
		return -1, 0, true
	case "right":
		return 1, 0, true
	case "up":
		return 0, -1, true
	case "down":
		return 0, 1, true
	}
	return 0, 0, false
}

// At is the object's bounding-box centre in frame i.
func (c Clip) At(i int) (cx, cy float64) {
	dx, dy, _ := direction(c.Direction)
	return c.Object.CX + dx*c.Speed*float64(i), c.Object.CY + dy*c.Speed*float64(i)
}

// Scene is frame i as a one-object scene.
func (c Clip) Scene(i int) Scene {
	o := c.Object
	o.CX, o.CY = c.At(i)
	return Scene{Objects: []Object{o}, Background: c.Background, Antialias: c.Antialias}
}

// RenderClip draws every frame.
func RenderClip(c Clip) []*image.RGBA {
	out := make([]*image.RGBA, c.Frames)
	for i := range out {
		out[i] = Render(c.Scene(i))
	}
	return out
}

// RandomClip draws a clip with every attribute uniform.
func RandomClip(r *rand.Rand) Clip {
	c, err := ClipOf(r, VideoAttrs{})
	if err != nil {
		panic(err) // unreachable: random attributes are valid
	}
	return c
}

// ClipOf draws a clip with the given attributes (empty fields random): the
// object's colour jittered by up to ±25 per channel and its side uniform in
// its size's range, as for images; its trailing edge starts 1–6 px from the
// edge it moves away from, its centre across the motion anywhere that keeps
// it 2 px inside the canvas; the speed is uniform between half and all of
// the most that keeps it wholly inside for the first 12 frames and at least
// half inside to the last (so faster clips leave the canvas partly in their
// last frames, as the spec allows).
func ClipOf(r *rand.Rand, a VideoAttrs) (Clip, error) {
	if a.Direction == "" {
		a.Direction = pick(r, Directions)
	}
	dx, dy, ok := direction(a.Direction)
	if !ok {
		return Clip{}, fmt.Errorf("shapes: unknown direction %q", a.Direction)
	}
	c := Clip{Direction: a.Direction, Frames: Frames, Antialias: r.IntN(2) == 0}
	for k := range c.Background {
		c.Background[k] = uint8(uniformInt(r, 235, 255))
	}
	// drawObject places the object at a place; its geometry is redone below.
	o, err := drawObject(r, Attrs{Shape: a.Shape, Colour: a.Colour, Size: a.Size, Place: "center"}, nil)
	if err != nil {
		return Clip{}, err
	}
	o.Place = ""
	half := o.Side / 2
	gap := 1 + 5*r.Float64()
	along := gap + half                              // centre's distance from the edge it leaves
	across := half + 2 + r.Float64()*(Size-o.Side-4) // centre across the motion
	// The leading edge reaches the far edge at frame 11 at the latest, and
	// the centre stays on the canvas to the last frame.
	maxSpeed := min((Size-gap-o.Side)/(framesInside-1), (Size-along)/(Frames-1))
	c.Speed = maxSpeed * (0.5 + 0.5*r.Float64())
	switch {
	case dx > 0:
		o.CX, o.CY = along, across
	case dx < 0:
		o.CX, o.CY = Size-along, across
	case dy > 0:
		o.CX, o.CY = across, along
	default:
		o.CX, o.CY = across, Size-along
	}
	c.Object = o
	return c, nil
}

// ParseVideoPrompt parses a prompt of the video grammar, "a SIZE COLOUR
// SHAPE moving DIRECTION", rejecting anything else.
func ParseVideoPrompt(p string) (VideoAttrs, error) {
	w := strings.Fields(p)
	if len(w) != 6 || w[0] != "a" || w[4] != "moving" || strings.Join(w, " ") != p {
		return VideoAttrs{}, fmt.Errorf("shapes: %q is not 'a SIZE COLOUR SHAPE moving DIRECTION'", p)
	}
	a := VideoAttrs{Size: w[1], Colour: w[2], Shape: w[3], Direction: w[5]}
	if err := checkWords(a.Size, a.Colour, a.Shape); err != nil {
		return a, err
	}
	if _, _, ok := direction(a.Direction); !ok {
		return a, fmt.Errorf("shapes: unknown direction %q", a.Direction)
	}
	return a, nil
}

// ColourRGB is a colour name's sRGB centre (SHAPES.md); ok is false for a
// name outside the spec.
func ColourRGB(name string) (rgb [3]uint8, ok bool) {
	c, ok := colourRGB[name]
	return [3]uint8{uint8(c[0]), uint8(c[1]), uint8(c[2])}, ok
}

// SizeRange is a size name's bounding-box side range in pixels, inclusive.
func SizeRange(name string) (lo, hi int, ok bool) {
	s, ok := sizeRange[name]
	return s[0], s[1], ok
}

// PictureVideoPrompt is the video prompt for image-to-video from a picture
// whose caption is caption: the picture's object (its size, colour and
// shape) moving the way prompt, a video prompt, says. It refuses a caption
// that is not one object of the caption grammar (a picture of two objects,
// or one the captioner could not read) and a prompt outside the video
// grammar, saying which.
func PictureVideoPrompt(caption, prompt string) (string, error) {
	objs, err := ParseCaption(caption)
	if err != nil {
		return "", fmt.Errorf("the picture's caption %q: %w", caption, err)
	}
	if len(objs) != 1 {
		return "", fmt.Errorf("the picture's caption %q names %d objects, not one", caption, len(objs))
	}
	a, err := ParseVideoPrompt(prompt)
	if err != nil {
		return "", err
	}
	o := objs[0]
	return VideoAttrs{Shape: o.Shape, Colour: o.Colour, Size: o.Size, Direction: a.Direction}.Prompt(), nil
}
