// Package prom keeps counters and histograms and writes them, with series read
// at scrape time, in the Prometheus text exposition format (version 0.0.4:
// https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// It is what the gateway's and the worker's /metrics need and no more, in place
// of prometheus/client_golang, whose registry, Go and process collectors,
// protobuf model and procfs reader every loom process linked and initialised
// (≈ 0.8 MiB of resident binary pages at start, docs/BENCHMARKS.md "Peak RSS of
// quantised models"). The output is byte for byte what client_golang's
// promhttp writes for the same series (prom_test.go checks it against that
// library and parses it with Prometheus's own text parser): families sorted by
// name, each with its HELP and TYPE, series sorted by label values, label
// names sorted, histogram buckets cumulative with an "+Inf" bucket, _sum and
// _count. Unlike promhttp it never gzips the body (a scraper takes either) and
// speaks only this format, not OpenMetrics (which Loom never enabled).
package prom

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Type is a metric family's TYPE.
type Type string

const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
	Summary   Type = "summary"
)

// Desc names a family of series read at scrape time: its name, help, type and
// label names.
type Desc struct {
	Name, Help string
	Type       Type
	Labels     []string
}

// NewDesc describes a family of series a Collector emits.
func NewDesc(name, help string, typ Type, labels ...string) *Desc {
	return &Desc{Name: name, Help: help, Type: typ, Labels: labels}
}

// Collector emits series read at scrape time (queue depth, live workers).
// emit takes the series' value and its label values in d.Labels' order.
type Collector interface {
	Collect(emit func(d *Desc, value float64, labelValues ...string))
}

// CollectorFunc is a Collector as a function.
type CollectorFunc func(emit func(d *Desc, value float64, labelValues ...string))

// Collect calls f.
func (f CollectorFunc) Collect(emit func(d *Desc, value float64, labelValues ...string)) { f(emit) }

// source is anything a Registry gathers families from.
type source interface {
	gather(g *gathering)
}

// Registry holds a process's counters, histograms and collectors and writes
// them all on a scrape.
type Registry struct {
	mu      sync.Mutex
	sources []source
	names   map[string]bool
}

// NewRegistry is an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) claim(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic(fmt.Sprintf("prom: %s registered twice", name))
	}
	if !validName(name) {
		panic(fmt.Sprintf("prom: %q is not a metric name", name))
	}
	r.names[name] = true
}

func (r *Registry) add(s source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources = append(r.sources, s)
}

// Register adds a collector whose families are named by descs (claimed here, so
// two sources cannot write the same family).
func (r *Registry) Register(c Collector, descs ...*Desc) {
	for _, d := range descs {
		r.claim(d.Name)
	}
	r.add(collected{c})
}

// vec is the part counters and histograms share: series by label values.
type vec[T any] struct {
	desc   Desc
	mu     sync.Mutex
	series map[string]*T // key: label values joined by 0xff
	make   func() *T
}

func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.desc.Labels) {
		panic(fmt.Sprintf("prom: %s takes %d label values, got %d", v.desc.Name, len(v.desc.Labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.series[key]
	if !ok {
		s = v.make()
		v.series[key] = s
	}
	return s
}

// each calls f on every series with its label values, under the lock.
func (v *vec[T]) each(f func(values []string, s *T)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for key, s := range v.series {
		var values []string
		if len(v.desc.Labels) > 0 {
			values = strings.Split(key, "\xff")
		}
		f(values, s)
	}
}

// CounterVec is a counter per combination of label values.
type CounterVec struct{ v vec[counter] }

// counter keeps whole increments in an integer (exact past 2⁵³, and the same
// sum whatever the order) and fractional ones in a float, as client_golang
// does; its value is their sum.
type counter struct {
	mu    sync.Mutex
	whole uint64
	frac  float64
}

// NewCounterVec registers a counter family on r.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	r.claim(name)
	c := &CounterVec{v: vec[counter]{desc: Desc{name, help, Counter, labels}, series: map[string]*counter{},
		make: func() *counter { return &counter{} }}}
	r.add(c)
	return c
}

// Add adds delta (≥ 0) to the series with these label values.
func (c *CounterVec) Add(delta float64, labelValues ...string) {
	if delta < 0 {
		panic("prom: a counter cannot decrease")
	}
	s := c.v.with(labelValues)
	s.mu.Lock()
	if w := uint64(delta); float64(w) == delta {
		s.whole += w
	} else {
		s.frac += delta
	}
	s.mu.Unlock()
}

// Inc adds one to the series with these label values.
func (c *CounterVec) Inc(labelValues ...string) { c.Add(1, labelValues...) }

func (c *CounterVec) gather(g *gathering) {
	c.v.each(func(values []string, s *counter) {
		s.mu.Lock()
		g.add(&c.v.desc, values, s.frac+float64(s.whole), nil)
		s.mu.Unlock()
	})
	g.declare(&c.v.desc)
}

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct {
	v      vec[histogram]
	bounds []float64 // upper bounds, ascending, without +Inf
}

type histogram struct {
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

// NewHistogramVec registers a histogram family on r with these bucket upper
// bounds (ascending; "+Inf" is added).
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if !slices.IsSorted(buckets) || len(buckets) == 0 {
		panic(fmt.Sprintf("prom: %s: buckets must be non-empty and ascending", name))
	}
	if math.IsInf(buckets[len(buckets)-1], +1) {
		buckets = buckets[:len(buckets)-1]
	}
	for _, l := range labels {
		if l == "le" {
			panic(fmt.Sprintf("prom: %s: le is the bucket label", name))
		}
	}
	r.claim(name)
	n := len(buckets) + 1
	h := &HistogramVec{bounds: slices.Clone(buckets), v: vec[histogram]{desc: Desc{name, help, Histogram, labels},
		series: map[string]*histogram{}, make: func() *histogram { return &histogram{counts: make([]uint64, n)} }}}
	r.add(h)
	return h
}

// Observe adds v to the series with these label values.
func (h *HistogramVec) Observe(v float64, labelValues ...string) {
	s := h.v.with(labelValues)
	// The first bound ≥ v (buckets are "le"); NaN compares false with every
	// bound and lands in +Inf, as in client_golang.
	i := sort.Search(len(h.bounds), func(i int) bool { return v <= h.bounds[i] })
	s.mu.Lock()
	s.counts[i]++
	s.sum += v
	s.n++
	s.mu.Unlock()
}

func (h *HistogramVec) gather(g *gathering) {
	h.v.each(func(values []string, s *histogram) {
		s.mu.Lock()
		q := &quantiles{sum: s.sum, count: s.n}
		var cum uint64
		for i, b := range h.bounds {
			cum += s.counts[i]
			q.at = append(q.at, b)
			q.val = append(q.val, float64(cum))
		}
		s.mu.Unlock()
		g.add(&h.v.desc, values, 0, q)
	})
	g.declare(&h.v.desc)
}

// ExponentialBuckets are count bounds from start, each factor times the last.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

type collected struct{ c Collector }

func (c collected) gather(g *gathering) {
	c.c.Collect(func(d *Desc, value float64, labelValues ...string) {
		if len(labelValues) != len(d.Labels) {
			panic(fmt.Sprintf("prom: %s takes %d label values, got %d", d.Name, len(d.Labels), len(labelValues)))
		}
		g.add(d, labelValues, value, nil)
	})
}

// quantiles are a histogram's cumulative buckets (at = upper bounds) or a
// summary's quantiles (at = φ), with the sum and count of observations.
type quantiles struct {
	at, val []float64
	sum     float64
	count   uint64
}

// gathering is one scrape: families by name.
type gathering struct{ fams map[string]*family }

type family struct {
	desc   *Desc
	series []series
}

type series struct {
	labels []label // sorted by name
	value  float64
	q      *quantiles
}

type label struct{ name, value string }

func (g *gathering) declare(d *Desc) *family {
	f, ok := g.fams[d.Name]
	if !ok {
		f = &family{desc: d}
		g.fams[d.Name] = f
	}
	return f
}

func (g *gathering) add(d *Desc, values []string, value float64, q *quantiles) {
	f := g.declare(d)
	ls := make([]label, len(values))
	for i, v := range values {
		ls[i] = label{d.Labels[i], v}
	}
	slices.SortFunc(ls, func(a, b label) int { return cmp.Compare(a.name, b.name) })
	f.series = append(f.series, series{labels: ls, value: value, q: q})
}

// WriteTo writes every family in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	sources := slices.Clone(r.sources)
	r.mu.Unlock()
	g := &gathering{fams: map[string]*family{}}
	for _, s := range sources {
		s.gather(g)
	}
	names := make([]string, 0, len(g.fams))
	for n, f := range g.fams {
		if len(f.series) > 0 { // an unused vec writes nothing, as client_golang
			names = append(names, n)
		}
	}
	slices.Sort(names)
	cw := &countingWriter{w: bufio.NewWriter(w)}
	for _, n := range names {
		writeFamily(cw, g.fams[n])
	}
	if err := cw.w.Flush(); err != nil && cw.err == nil {
		cw.err = err
	}
	return cw.n, cw.err
}

type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) str(s string) {
	if c.err == nil {
		n, err := c.w.WriteString(s)
		c.n += int64(n)
		c.err = err
	}
}

func writeFamily(w *countingWriter, f *family) {
	d := f.desc
	slices.SortStableFunc(f.series, func(a, b series) int { return compareLabels(a.labels, b.labels) })
	w.str("# HELP " + d.Name + " " + escape(d.Help, false) + "\n")
	w.str("# TYPE " + d.Name + " " + string(d.Type) + "\n")
	for _, s := range f.series {
		switch {
		case s.q == nil:
			writeSample(w, d.Name, s.labels, "", "", s.value)
		case d.Type == Histogram:
			for i, b := range s.q.at {
				writeSample(w, d.Name+"_bucket", s.labels, "le", formatFloat(b), s.q.val[i])
			}
			writeSample(w, d.Name+"_bucket", s.labels, "le", "+Inf", float64(s.q.count))
			writeSample(w, d.Name+"_sum", s.labels, "", "", s.q.sum)
			writeSample(w, d.Name+"_count", s.labels, "", "", float64(s.q.count))
		default: // Summary
			for i, phi := range s.q.at {
				writeSample(w, d.Name, s.labels, "quantile", formatFloat(phi), s.q.val[i])
			}
			writeSample(w, d.Name+"_sum", s.labels, "", "", s.q.sum)
			writeSample(w, d.Name+"_count", s.labels, "", "", float64(s.q.count))
		}
	}
}

// compareLabels orders series as client_golang does: by label values in label
// name order (every series of a family has the same names).
func compareLabels(a, b []label) int {
	for i := range min(len(a), len(b)) {
		if c := cmp.Compare(a[i].value, b[i].value); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func writeSample(w *countingWriter, name string, ls []label, extra, extraValue string, v float64) {
	w.str(name)
	if len(ls) > 0 || extra != "" {
		w.str("{")
		for i, l := range ls {
			if i > 0 {
				w.str(",")
			}
			w.str(l.name + `="` + escape(l.value, true) + `"`)
		}
		if extra != "" {
			if len(ls) > 0 {
				w.str(",")
			}
			w.str(extra + `="` + extraValue + `"`)
		}
		w.str("}")
	}
	w.str(" " + formatFloat(v) + "\n")
}

// escape escapes a HELP text (backslash, newline) or a label value (also the
// double quote), as the format asks.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func validName(s string) bool {
	for i, r := range s {
		ok := r == '_' || r == ':' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9'
		if !ok {
			return false
		}
	}
	return s != ""
}

// ContentType is the text format's media type, as client_golang's promhttp
// announces it (metric names here are already legacy-valid, so the
// "underscores" escaping changes nothing).
const ContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// Handler serves r's families on GET.
func Handler(r *Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_, _ = r.WriteTo(w)
	})
}
