package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"google.golang.org/grpc/status"
)

// podSpec is the JSON form of the pod fields a test controls.
type podSpec struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Namespace      string            `json:"namespace"`
	UID            string            `json:"uid"`
	Annotations    map[string]string `json:"annotations"`
	Labels         map[string]string `json:"labels"`
	RuntimeHandler string            `json:"runtimeHandler"`
	Pid            uint32            `json:"pid"`
}

func (p *podSpec) sandbox(id string) *adaptation.PodSandbox {
	if id == "" {
		id = p.ID
	}
	return &adaptation.PodSandbox{
		Id:             id,
		Name:           p.Name,
		Namespace:      p.Namespace,
		Uid:            p.UID,
		Annotations:    p.Annotations,
		Labels:         p.Labels,
		RuntimeHandler: p.RuntimeHandler,
		Pid:            p.Pid,
	}
}

// setPods replaces the pod list reported by the sync callback.
func (h *harness) setPods(c *command) reply {
	pods := make([]*adaptation.PodSandbox, 0, c.Count+len(c.Pods))
	for i := range c.Pods {
		pods = append(pods, c.Pods[i].sandbox(""))
	}
	filler := strings.Repeat("x", c.AnnotationBytes)
	for i := 0; i < c.Count; i++ {
		n := strconv.Itoa(i)
		spec := podSpec{
			Name: "sync-pod-" + n, Namespace: "default", UID: "uid-sync-" + n,
			Annotations: map[string]string{"harness.test/filler": filler},
		}
		pods = append(pods, spec.sandbox("sync-"+n))
	}
	h.mu.Lock()
	h.pods = pods
	h.mu.Unlock()
	return reply{"ok": true, "pods": len(pods)}
}

// callRunPod delivers one RunPodSandbox, holding off plugin sync meanwhile
// where the NRI release supports it (containerd does the same).
func (h *harness) callRunPod(ctx context.Context, pod *adaptation.PodSandbox) (
	time.Duration, error) {
	r := h.current()
	if r == nil {
		return 0, fmt.Errorf("not started")
	}
	release := blockPluginSync(r)
	defer release()
	t0 := time.Now()
	err := runPodSandbox(ctx, r, pod)
	return time.Since(t0), err
}

// runPod sends one RunPodSandbox for the given pod.
func (h *harness) runPod(c *command) reply {
	if c.Pod == nil {
		return fail(fmt.Errorf("runPod needs a pod"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout(time.Minute))
	defer cancel()
	d, err := h.callRunPod(ctx, c.Pod.sandbox(""))
	r := reply{"ok": err == nil, "us": micros(d)}
	if err != nil {
		r["error"] = err.Error()
		r["code"] = status.Code(err).String()
	}
	return r
}

// burst sends count RunPodSandbox calls one after another.
func (h *harness) burst(c *command) reply {
	if c.Pod == nil || c.Count <= 0 {
		return fail(fmt.Errorf("burst needs a pod and a positive count"))
	}
	lat := make([]time.Duration, 0, c.Count)
	errs, first := 0, ""
	t0 := time.Now()
	for i := 0; i < c.Count; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout(time.Minute))
		d, err := h.callRunPod(ctx, c.Pod.sandbox(c.Pod.ID+"-"+strconv.Itoa(i)))
		cancel()
		lat = append(lat, d)
		if err != nil {
			errs++
			if first == "" {
				first = err.Error()
			}
		}
	}
	r := reply{"ok": errs == 0, "errors": errs, "ms": msSince(t0),
		"p50Us": micros(percentile(lat, 50)), "p99Us": micros(percentile(lat, 99)),
		"maxUs": micros(percentile(lat, 100))}
	if first != "" {
		r["error"] = first
	}
	return r
}

// percentile returns the nearest-rank percentile of the samples.
func percentile(samples []time.Duration, pct int) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := append([]time.Duration{}, samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (pct*len(s) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

func micros(d time.Duration) float64 {
	return float64(d.Nanoseconds()) / 1000
}
