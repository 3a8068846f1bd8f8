package prom

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is what promhttp serves for reg: the reference output.
func scrape(t *testing.T, reg *prometheus.Registry) (string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

func ours(t *testing.T, r *Registry) (string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(r).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's text parser rejects the output: %v\n%s", err, text)
	}
	return fams
}

// The same series fed to client_golang and to this package come out byte for
// byte the same: counters, histograms (observations on, between and beyond the
// bounds, negative, NaN) and scrape-time gauges, with label values that need
// escaping, label names out of order, and families registered out of order.
func TestMatchesClientGolang(t *testing.T) {
	values := []string{"", "a", "text.complete", `quo"te`, `back\slash`, "new\nline", "ünï", "a,b=c", "{}", "0"}
	for seed := range 20 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		ref := prometheus.NewRegistry()
		r := NewRegistry()

		pick := func() string { return values[rng.IntN(len(values))] }
		counterLabels := [][]string{nil, {"task"}, {"task", "status"}, {"zeta", "alpha", "mid"}}[rng.IntN(4)]
		cRef := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "z_jobs_total", Help: "Jobs, by \\ task\nand status."}, counterLabels)
		ref.MustRegister(cRef)
		c := r.NewCounterVec("z_jobs_total", "Jobs, by \\ task\nand status.", counterLabels...)

		buckets := ExponentialBuckets(0.001*float64(1+rng.IntN(3)), 2.5, 1+rng.IntN(14))
		if rng.IntN(2) == 0 {
			buckets = append(buckets, math.Inf(+1))
		}
		hLabels := [][]string{nil, {"route", "method", "code"}, {"task"}}[rng.IntN(3)]
		hRef := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "a_latency_seconds", Help: "Latency.", Buckets: buckets}, hLabels)
		ref.MustRegister(hRef)
		h := r.NewHistogramVec("a_latency_seconds", "Latency.", buckets, hLabels...)

		labelValues := func(names []string) []string {
			v := make([]string, len(names))
			for i := range v {
				v[i] = pick()
			}
			return v
		}
		for range rng.IntN(40) {
			lv := labelValues(counterLabels)
			d := []float64{1, 0, 0.5, 1e6, 3e-9, 12345.678}[rng.IntN(6)]
			cRef.WithLabelValues(lv...).Add(d)
			c.Add(d, lv...)
		}
		for range rng.IntN(200) {
			lv := labelValues(hLabels)
			v := []float64{buckets[rng.IntN(len(buckets))], rng.Float64() * 10, -rng.Float64(), 1e9, math.NaN(), 0}[rng.IntN(6)]
			hRef.WithLabelValues(lv...).Observe(v)
			h.Observe(v, lv...)
		}

		gaugeVals := []float64{0, 1, -2.5, 1e21, 7.000001, math.Inf(+1), math.Inf(-1), math.NaN(), 1.8446744073709552e+19}
		type point struct {
			v  float64
			lv []string
		}
		var points []point
		seen := map[string]bool{}
		for range rng.IntN(12) {
			lv := []string{pick(), pick()}
			if key := strings.Join(lv, "\xff"); !seen[key] {
				seen[key] = true
				points = append(points, point{gaugeVals[rng.IntN(len(gaugeVals))], lv})
			}
		}
		plain := gaugeVals[rng.IntN(len(gaugeVals))]
		dRef := prometheus.NewDesc("m_queue_depth", "Depth, by task and model.", []string{"task", "model"}, nil)
		pRef := prometheus.NewDesc("m_workers", "Workers.", nil, nil)
		ref.MustRegister(refCollector{descs: []*prometheus.Desc{dRef, pRef}, collect: func(ch chan<- prometheus.Metric) {
			for _, p := range points {
				ch <- prometheus.MustNewConstMetric(dRef, prometheus.GaugeValue, p.v, p.lv...)
			}
			ch <- prometheus.MustNewConstMetric(pRef, prometheus.CounterValue, plain)
		}})
		d := NewDesc("m_queue_depth", "Depth, by task and model.", Gauge, "task", "model")
		p := NewDesc("m_workers", "Workers.", Counter)
		r.Register(CollectorFunc(func(emit func(*Desc, float64, ...string)) {
			for _, pt := range points {
				emit(d, pt.v, pt.lv...)
			}
			emit(p, plain)
		}), d, p)

		want, wantType := scrape(t, ref)
		got, gotType := ours(t, r)
		if got != want {
			t.Fatalf("seed %d: output differs from client_golang's\n--- client_golang\n%s\n--- prom\n%s", seed, want, got)
		}
		if gotType != wantType {
			t.Fatalf("Content-Type %q, client_golang %q", gotType, wantType)
		}
		parse(t, got)
	}
}

type refCollector struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c refCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c refCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// RegisterRuntime writes every family client_golang's default Go and process
// collectors write, with the same types, and values that agree with the
// process's own view.
func TestRuntimeFamiliesAsClientGolang(t *testing.T) {
	ref := prometheus.NewRegistry()
	ref.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	refText, _ := scrape(t, ref)
	want := parse(t, refText)

	r := NewRegistry()
	RegisterRuntime(r)
	text, _ := ours(t, r)
	got := parse(t, text)
	for name, wf := range want {
		gf, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if gf.GetType() != wf.GetType() || len(gf.Metric) != len(wf.Metric) {
			t.Errorf("%s: type %v, %d series; client_golang %v, %d", name, gf.GetType(), len(gf.Metric), wf.GetType(), len(wf.Metric))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: not a family client_golang writes", name)
		}
	}

	value := func(name string) float64 {
		m := got[name].GetMetric()[0]
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
		return math.NaN()
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := strconv.ParseFloat(strings.Fields(string(statm))[1], 64)
	rss := pages * float64(os.Getpagesize())
	if v := value("process_resident_memory_bytes"); v < rss/2 || v > rss*2 {
		t.Errorf("process_resident_memory_bytes %g, statm says %g", v, rss)
	}
	// Within a minute of client_golang's reading of the same process.
	refStart := want["process_start_time_seconds"].GetMetric()[0].GetGauge().GetValue()
	if v := value("process_start_time_seconds"); math.Abs(v-refStart) > 1 {
		t.Errorf("process_start_time_seconds %g, client_golang %g", v, refStart)
	}
	for _, name := range []string{"process_max_fds", "process_virtual_memory_max_bytes", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"} {
		if v, w := value(name), want[name].GetMetric()[0].GetGauge().GetValue(); v != w {
			t.Errorf("%s %g, client_golang %g", name, v, w)
		}
	}
	if v := value("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines %g", v)
	}
	if v := value("go_threads"); v < 1 {
		t.Errorf("go_threads %g", v)
	}
	if v := value("process_open_fds"); v < 3 {
		t.Errorf("process_open_fds %g", v)
	}
	if v := value("process_cpu_seconds_total"); v <= 0 {
		t.Errorf("process_cpu_seconds_total %g", v)
	}
	if l := got["go_info"].GetMetric()[0].GetLabel(); len(l) != 1 || l[0].GetName() != "version" || !strings.HasPrefix(l[0].GetValue(), "go") {
		t.Errorf("go_info labels %v", l)
	}
	if s := got["go_gc_duration_seconds"].GetMetric()[0].GetSummary(); len(s.GetQuantile()) != 5 {
		t.Errorf("go_gc_duration_seconds: %v", s)
	}
}

func TestRegistryRefusesMisuse(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	r := NewRegistry()
	c := r.NewCounterVec("x_total", "x", "a")
	mustPanic("registering x_total twice", func() { r.NewHistogramVec("x_total", "x", []float64{1}) })
	mustPanic("a bad name", func() { r.NewCounterVec("1x", "x") })
	mustPanic("too few label values", func() { c.Inc() })
	mustPanic("a negative count", func() { c.Add(-1, "v") })
	mustPanic("unsorted buckets", func() { r.NewHistogramVec("h", "h", []float64{2, 1}) })
	mustPanic("an le label", func() { r.NewHistogramVec("h2", "h", []float64{1}, "le") })
	d := NewDesc("g", "g", Gauge, "a")
	r.Register(CollectorFunc(func(emit func(*Desc, float64, ...string)) { emit(d, 1) }), d)
	mustPanic("a collector's missing label value", func() { r.WriteTo(&bytes.Buffer{}) })
}

// An empty registry and an unused vec write nothing, as client_golang.
func TestEmptyFamiliesWriteNothing(t *testing.T) {
	r := NewRegistry()
	r.NewCounterVec("unused_total", "never incremented", "task")
	var b bytes.Buffer
	if n, err := r.WriteTo(&b); err != nil || n != 0 || b.Len() != 0 {
		t.Fatalf("wrote %d bytes (%q), %v", n, b.String(), err)
	}
}
