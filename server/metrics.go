package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tasktail/tasktail/actors"
)

// metrics are the edge's own instruments; the Manager's counters are read from its Stats.
type metrics struct {
	reg            *prometheus.Registry
	authFailures   prometheus.Counter
	publishLatency prometheus.Histogram
}

// newMetrics registers the Manager's counters, the edge's instruments and the process and
// Go runtime collectors.
// In cluster mode every gauge of this member carries its address as label "member", and
// tasktail_cluster_members counts the members it sees.
// mgr returns the Manager served now; a Manager that replaces it keeps its Stats.
func newMetrics(mgr func() *actors.Manager) *metrics {
	st := mgr().Stats()
	reg := prometheus.NewRegistry()
	var labels prometheus.Labels
	_, self, clustered := mgr().ClusterMembers()
	if clustered {
		labels = prometheus.Labels{"member": self}
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tasktail", Name: name, Help: help, ConstLabels: labels}, f))
	}
	if clustered {
		gauge("cluster_members", "Cluster members this member sees, itself included.", func() float64 {
			members, _, _ := mgr().ClusterMembers()
			return float64(len(members))
		})
	}
	counter := func(name, help string, f func() uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tasktail", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	gauge("tasks_live", "Tasks alive now.", func() float64 { return float64(st.LiveTasks.Load()) })
	gauge("tasks_waiting", "Task ids nobody has published to that viewers wait on.", func() float64 { return float64(st.WaitingTasks.Load()) })
	gauge("viewers", "WebSocket viewers attached now.", func() float64 { return float64(st.Sockets.Load()) })
	counter("messages_published_total", "Log messages accepted.", st.Published.Load)
	counter("messages_queued_total", "Log messages queued because no viewer was connected.", st.Queued.Load)
	counter("messages_trimmed_total", "Queued messages dropped by the trim rule.", st.Trimmed.Load)
	counter("frames_delivered_total", "Frames written to viewers (hello, log and gap).", st.Delivered.Load)
	counter("slow_consumer_closes_total", "Viewers closed with 1013 for falling behind.", st.SlowConsumers.Load)
	counter("write_failures_total", "Viewers closed because a write failed.", st.WriteFailures.Load)
	counter("task_panics_total", "Messages whose handling panicked; the task resumed without them.", st.TaskPanics.Load)
	counter("tasks_stopped_total", "Tasks stopped for exceeding their failure budget.", st.TasksStopped.Load)
	counter("tasks_passivated_total", "Tasks stopped after their idle or finished TTL.", st.TasksPassivated.Load)
	if mgr().Journaled() {
		counter("journal_commits_total", "Commits written to the journal, each synced with --sync always: appends per commit is how many writes share a sync.", st.Journal.Commits.Load)
		counter("journal_appends_total", "Task writes (a publish's entries, a restart, a meta) the journal's commits carried.", st.Journal.Appends.Load)
	}
	m := &metrics{
		reg: reg,
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "tasktail", Name: "auth_failures_total",
			Help: "Requests refused for missing, invalid or insufficient credentials."}),
		publishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tasktail", Name: "publish_duration_seconds",
			Help:    "Time from a publish request's arrival to its answer.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5}}),
	}
	reg.MustRegister(m.authFailures, m.publishLatency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
