package mp4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// node is a parsed box: its type, payload and children (for containers).
type node struct {
	typ      string
	offset   int // of the box in the file
	payload  []byte
	children []*node
}

// containers are the boxes whose payload is boxes, after a fixed header of
// this many bytes (stsd: version/flags and count; avc1: the visual sample
// entry's fields; dref: version/flags and count).
var containers = map[string]int{"moov": 0, "trak": 0, "mdia": 0, "minf": 0, "dinf": 0, "stbl": 0, "stsd": 8, "avc1": 78, "dref": 8}

// parse walks boxes strictly: every size fits its parent exactly.
func parse(b []byte, base int) ([]*node, error) {
	var out []*node
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("%d stray bytes at %d", len(b)-off, base+off)
		}
		size := int(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		if size < 8 || off+size > len(b) {
			return nil, fmt.Errorf("box %q at %d: size %d overruns its parent", typ, base+off, size)
		}
		n := &node{typ: typ, offset: base + off, payload: b[off+8 : off+size]}
		if skip, ok := containers[typ]; ok {
			if len(n.payload) < skip {
				return nil, fmt.Errorf("box %q too short", typ)
			}
			kids, err := parse(n.payload[skip:], base+off+8+skip)
			if err != nil {
				return nil, err
			}
			n.children = kids
		}
		out = append(out, n)
		off += size
	}
	return out, nil
}

func find(ns []*node, path ...string) *node {
	for _, n := range ns {
		if n.typ == path[0] {
			if len(path) == 1 {
				return n
			}
			return find(n.children, path[1:]...)
		}
	}
	return nil
}

func u32(b []byte, i int) uint32 { return binary.BigEndian.Uint32(b[4*i:]) }

// check parses a written file and checks that it describes the samples.
func check(t *testing.T, file []byte, tr Track, samples []Sample) {
	t.Helper()
	top, err := parse(file, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, n := range top {
		types = append(types, n.typ)
	}
	if !slices.Equal(types, []string{"ftyp", "moov", "mdat"}) {
		t.Fatalf("top-level boxes %v", types)
	}
	stbl := find(top, "moov", "trak", "mdia", "minf", "stbl")
	for _, b := range []string{"stsd", "stts", "stss", "stsc", "stsz", "stco"} {
		if find(stbl.children, b) == nil {
			t.Fatalf("no %s", b)
		}
	}
	n := len(samples)
	stsz := find(stbl.children, "stsz").payload
	if u32(stsz, 1) != 0 || int(u32(stsz, 2)) != n {
		t.Fatalf("stsz header %v", stsz[:12])
	}
	stco := find(stbl.children, "stco").payload
	mdat := top[2]
	if u32(stco, 1) != 1 || int(u32(stco, 2)) != mdat.offset+8 {
		t.Fatalf("chunk at %d, mdat payload at %d", u32(stco, 2), mdat.offset+8)
	}
	if stsc := find(stbl.children, "stsc").payload; u32(stsc, 1) != 1 || u32(stsc, 2) != 1 || int(u32(stsc, 3)) != n {
		t.Fatalf("stsc %v", stsc)
	}
	// Read each sample back through the tables.
	off := 0
	for i, s := range samples {
		size := int(u32(stsz, 3+i))
		data := mdat.payload[off : off+size]
		off += size
		var nals [][]byte
		for len(data) > 0 {
			l := int(binary.BigEndian.Uint32(data))
			nals = append(nals, data[4:4+l])
			data = data[4+l:]
		}
		if len(nals) != len(s.NALs) {
			t.Fatalf("sample %d: %d NAL units, want %d", i, len(nals), len(s.NALs))
		}
		for k := range nals {
			if !bytes.Equal(nals[k], s.NALs[k]) {
				t.Fatalf("sample %d NAL %d differs", i, k)
			}
		}
	}
	if off != len(mdat.payload) {
		t.Fatalf("mdat has %d bytes beyond the samples", len(mdat.payload)-off)
	}
	var keys []uint32
	for i, s := range samples {
		if s.Key {
			keys = append(keys, uint32(i+1))
		}
	}
	stss := find(stbl.children, "stss").payload
	if int(u32(stss, 1)) != len(keys) {
		t.Fatalf("stss lists %d keys, want %d", u32(stss, 1), len(keys))
	}
	for k, want := range keys {
		if u32(stss, 2+k) != want {
			t.Fatalf("stss entry %d = %d, want %d", k, u32(stss, 2+k), want)
		}
	}
	stts := find(stbl.children, "stts").payload
	mdhd := find(top, "moov", "trak", "mdia", "mdhd").payload
	scale, dur := u32(mdhd, 3), u32(mdhd, 4)
	if u32(stts, 1) != 1 || int(u32(stts, 2)) != n || u32(stts, 3)*uint32(tr.FPS) != scale || dur != uint32(n)*u32(stts, 3) {
		t.Fatalf("stts %v, mdhd timescale %d duration %d", stts, scale, dur)
	}
	tkhd := find(top, "moov", "trak", "tkhd").payload
	if u32(tkhd, 19) != uint32(tr.Width)<<16 || u32(tkhd, 20) != uint32(tr.Height)<<16 {
		t.Fatalf("tkhd size %#x × %#x", u32(tkhd, 19), u32(tkhd, 20))
	}
	avcC := find(top, "moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1", "avcC").payload
	spsLen := int(binary.BigEndian.Uint16(avcC[6:]))
	if !bytes.Equal(avcC[8:8+spsLen], tr.SPS) || !bytes.Equal(avcC[11+spsLen:], tr.PPS) || avcC[1] != tr.SPS[1] {
		t.Fatalf("avcC %v does not carry the parameter sets", avcC)
	}
}

func randomSamples(r *rand.Rand, n int) []Sample {
	s := make([]Sample, n)
	for i := range s {
		s[i].Key = i == 0 || r.IntN(4) == 0
		for k := 0; k < 1+r.IntN(3); k++ {
			u := make([]byte, 1+r.IntN(300))
			for j := range u {
				u[j] = byte(r.IntN(256))
			}
			s[i].NALs = append(s[i].NALs, u)
		}
	}
	return s
}

var track = Track{Width: 64, Height: 48, FPS: 8, SPS: []byte{0x67, 66, 0xC0, 11, 0xF8}, PPS: []byte{0x68, 0xCE}}

func TestWrite(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 16, 300} {
		samples := randomSamples(r, n)
		var b bytes.Buffer
		if err := Write(&b, track, samples); err != nil {
			t.Fatal(err)
		}
		check(t, b.Bytes(), track, samples)
		var again bytes.Buffer
		Write(&again, track, samples)
		if !bytes.Equal(b.Bytes(), again.Bytes()) {
			t.Fatal("two writes differ")
		}
	}
}

func TestWriteRejects(t *testing.T) {
	ok := randomSamples(rand.New(rand.NewPCG(3, 3)), 3)
	bad := func(mod func(*Track, *[]Sample)) error {
		tr, s := track, slices.Clone(ok)
		mod(&tr, &s)
		return Write(&bytes.Buffer{}, tr, s)
	}
	for name, err := range map[string]error{
		"no samples":      bad(func(_ *Track, s *[]Sample) { *s = nil }),
		"first not key":   bad(func(_ *Track, s *[]Sample) { (*s)[0].Key = false }),
		"empty sample":    bad(func(_ *Track, s *[]Sample) { (*s)[1] = Sample{} }),
		"zero width":      bad(func(tr *Track, _ *[]Sample) { tr.Width = 0 }),
		"fps 0":           bad(func(tr *Track, _ *[]Sample) { tr.FPS = 0 }),
		"short SPS":       bad(func(tr *Track, _ *[]Sample) { tr.SPS = tr.SPS[:2] }),
		"huge dimensions": bad(func(tr *Track, _ *[]Sample) { tr.Height = 70000 }),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzWrite(f *testing.F) {
	f.Add(uint64(1), uint16(5), uint8(8))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, fps uint8) {
		tr := track
		tr.FPS = 1 + int(fps%120)
		samples := randomSamples(rand.New(rand.NewPCG(seed, 1)), 1+int(n%200))
		var b bytes.Buffer
		if err := Write(&b, tr, samples); err != nil {
			t.Fatal(err)
		}
		check(t, b.Bytes(), tr, samples)
	})
}
