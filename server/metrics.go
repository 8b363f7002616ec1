package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tasktail/tasktail/actors"
)

// newMetrics registers the Manager's counters and the process and Go runtime collectors.
func newMetrics(st *actors.Stats) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "tasktail", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tasktail", Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	gauge("tasks_live", "Task actors alive now.", func() float64 { return float64(st.LiveTasks.Load()) })
	gauge("viewers", "WebSocket viewers attached now.", func() float64 { return float64(st.Sockets.Load()) })
	counter("messages_published_total", "Log messages accepted.", st.Published.Load)
	counter("messages_trimmed_total", "Queued messages dropped by the trim rule.", st.Trimmed.Load)
	counter("slow_consumer_closes_total", "Viewers closed with 1013 for falling behind.", st.SlowConsumers.Load)
	counter("write_failures_total", "Viewers closed because a write failed.", st.WriteFailures.Load)
	counter("task_panics_total", "Messages whose handling panicked; the task resumed.", st.TaskPanics.Load)
	counter("tasks_stopped_total", "Tasks stopped for exceeding their failure budget.", st.TasksStopped.Load)
	counter("tasks_passivated_total", "Tasks stopped after their idle or finished TTL.", st.TasksPassivated.Load)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
