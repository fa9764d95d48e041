package registry

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names (see doc.go).
const (
	MetricLoadedVersions = "shoal_serving_loaded_versions"
	MetricBatchSize      = "shoal_serving_batch_size"
	MetricQueueDepth     = "shoal_serving_queue_depth"
	MetricLoadFailures   = "shoal_serving_load_failures_total"
)

// metrics are the registry's Prometheus collectors. Every method is a
// no-op on a nil *metrics, so the code that counts need not ask.
type metrics struct {
	loaded   *prometheus.GaugeVec     // model
	batch    *prometheus.HistogramVec // model, version
	depth    *prometheus.GaugeVec     // model, version
	failures *prometheus.CounterVec   // model
}

// versionMetrics are the series of one loaded version.
type versionMetrics struct {
	batch prometheus.Observer
	depth prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, maxBatch int) (*metrics, error) {
	buckets := []float64{1}
	for b := 2; b < maxBatch; b *= 2 {
		buckets = append(buckets, float64(b))
	}
	if maxBatch > 1 {
		buckets = append(buckets, float64(maxBatch))
	}
	m := &metrics{
		loaded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricLoadedVersions,
			Help: "Versions of a model loaded and served.",
		}, []string{"model"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricBatchSize,
			Help:    "Inputs in one forward pass of a model version (dynamic batching).",
			Buckets: buckets,
		}, []string{"model", "version"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricQueueDepth,
			Help: "Requests waiting for a forward pass of a model version.",
		}, []string{"model", "version"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricLoadFailures,
			Help: "Failed loads of a model's versions (corrupt, truncated or incomplete files).",
		}, []string{"model"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.loaded, m.batch, m.depth, m.failures} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("registry: metrics"), err)
	}
	return m, nil
}

func (m *metrics) forVersion(name string, v int) *versionMetrics {
	if m == nil {
		return nil
	}
	ver := strconv.Itoa(v)
	return &versionMetrics{
		batch: m.batch.WithLabelValues(name, ver),
		depth: m.depth.WithLabelValues(name, ver),
	}
}

func (m *metrics) forgetVersion(name string, v int) {
	if m == nil {
		return
	}
	ver := strconv.Itoa(v)
	m.batch.DeleteLabelValues(name, ver)
	m.depth.DeleteLabelValues(name, ver)
}

func (m *metrics) forgetModel(name string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"model": name}
	m.batch.DeletePartialMatch(l)
	m.depth.DeletePartialMatch(l)
	m.loaded.DeleteLabelValues(name)
	m.failures.DeleteLabelValues(name)
}

func (m *metrics) setLoaded(name string, n int) {
	if m != nil {
		m.loaded.WithLabelValues(name).Set(float64(n))
	}
}

func (m *metrics) loadFailed(name string) {
	if m != nil {
		m.failures.WithLabelValues(name).Inc()
	}
}

func (v *versionMetrics) observeBatch(n int) {
	if v != nil {
		v.batch.Observe(float64(n))
	}
}

func (v *versionMetrics) addDepth(n int) {
	if v != nil {
		v.depth.Add(float64(n))
	}
}
