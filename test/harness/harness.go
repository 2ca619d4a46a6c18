package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
)

// command is one request line read from stdin.
type command struct {
	Op              string          `json:"op"`
	ID              json.RawMessage `json:"id,omitempty"`
	Count           int             `json:"count"`
	TimeoutMs       float64         `json:"timeoutMs"`
	Pod             *podSpec        `json:"pod"`
	Pods            []podSpec       `json:"pods"`
	AnnotationBytes int             `json:"annotationBytes"`
	Pattern         string          `json:"pattern"`
	Since           int             `json:"since"`
	Lines           int             `json:"lines"`
	KeepConnections bool            `json:"keepConnections"`
}

// reply is one response line written to stdout.
type reply map[string]interface{}

// harness owns at most one running adaptation at a time.
type harness struct {
	opts    *options
	logs    *logStore
	track   *tracker
	metrics *metricsRecorder
	mu      sync.Mutex
	nri     *adaptation.Adaptation
	pods    []*adaptation.PodSandbox
	syncs   []syncRecord
	starts  int
}

func newHarness(o *options, logs *logStore) *harness {
	h := &harness{opts: o, logs: logs, track: &tracker{}, metrics: newMetricsRecorder()}
	logs.onLine = h.track.observe
	return h
}

// serve runs commands until "quit" or end of input.
func (h *harness) serve(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var c command
		var r reply
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			r = fail(fmt.Errorf("bad command: %w", err))
		} else {
			r = h.dispatch(&c)
		}
		if c.ID != nil {
			r["id"] = c.ID
		}
		_ = enc.Encode(r)
		if c.Op == "quit" {
			return
		}
	}
}

func (h *harness) dispatch(c *command) reply {
	switch c.Op {
	case "start":
		return h.start()
	case "stop", "quit":
		return h.stop(c.KeepConnections)
	case "waitPlugins":
		return h.waitPlugins(c.Count, c.timeout(10*time.Second))
	case "runPod":
		return h.runPod(c)
	case "burst":
		return h.burst(c)
	case "setPods":
		return h.setPods(c)
	case "status":
		return h.status(c)
	case "logs":
		return h.logLines(c)
	case "waitLog":
		return h.waitLog(c)
	case "version":
		return h.version()
	}
	return fail(fmt.Errorf("unknown op %q", c.Op))
}

func (c *command) timeout(def time.Duration) time.Duration {
	if c.TimeoutMs > 0 {
		return time.Duration(c.TimeoutMs * float64(time.Millisecond))
	}
	return def
}

func fail(err error) reply {
	return reply{"ok": false, "error": err.Error()}
}
