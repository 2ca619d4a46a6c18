package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
)

// syncRecord describes one call of the runtime's sync callback.
type syncRecord struct {
	Ms    float64 `json:"ms"`
	Pods  int     `json:"pods"`
	Error string  `json:"error,omitempty"`
}

// start creates a fresh adaptation and starts it, as containerd does at boot.
func (h *harness) start() reply {
	if h.current() != nil {
		return fail(fmt.Errorf("already started"))
	}
	h.track.reset()
	h.metrics.reset()
	r, err := adaptation.New(h.opts.runtimeName, h.opts.runtimeVersion,
		h.syncFn, h.updateFn, h.adaptationOptions()...)
	if err != nil {
		return fail(fmt.Errorf("adaptation.New: %w", err))
	}
	t0 := time.Now()
	err = r.Start()
	ms := msSince(t0)
	if err != nil {
		// NRI before v0.8.0 fails Start() when a launched plugin fails;
		// log it so that status sees it like any other failure.
		h.logs.Errorf(context.Background(), "harness: Start() failed: %v", err)
		r.Stop()
		return reply{"ok": false, "error": err.Error(), "startMs": ms}
	}
	h.mu.Lock()
	h.nri = r
	h.starts++
	h.mu.Unlock()
	return reply{"ok": true, "startMs": ms}
}

func (h *harness) adaptationOptions() []adaptation.Option {
	opts := []adaptation.Option{
		adaptation.WithPluginPath(h.opts.pluginDir),
		adaptation.WithPluginConfigPath(h.opts.confDir),
	}
	if h.opts.noConnections {
		opts = append(opts, adaptation.WithDisabledExternalConnections())
	} else {
		opts = append(opts, adaptation.WithSocketPath(h.opts.socket))
	}
	return append(opts, versionOptions(h)...)
}

// stop shuts the adaptation down: Stop() closes the listener and kills
// launched plugins. Unless keepConnections is set, every plugin connection
// is closed first, so that external plugins see the runtime go away too.
func (h *harness) stop(keepConnections bool) reply {
	h.mu.Lock()
	r := h.nri
	h.nri = nil
	h.mu.Unlock()
	if r == nil {
		return reply{"ok": true, "closed": []string{}}
	}
	seq := h.logs.nextSeq()
	var closed []string
	if !keepConnections {
		closed = closeConnections(r, time.Second)
	}
	r.Stop()
	h.awaitClosed(closed, seq, time.Now().Add(2*time.Second))
	return reply{"ok": true, "closed": nonNil(closed)}
}

// awaitClosed waits for the adaptation to log the closing of each plugin,
// so that those lines are not attributed to a later start.
func (h *harness) awaitClosed(names []string, seq int, deadline time.Time) {
	for _, n := range names {
		re := regexp.MustCompile(`^connection to plugin "` + regexp.QuoteMeta(n) + `" closed$`)
		h.logs.waitMatch(re, seq, deadline)
	}
}

func (h *harness) current() *adaptation.Adaptation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nri
}

// syncFn reports the configured pod list, as containerd reports its state.
func (h *harness) syncFn(ctx context.Context, cb adaptation.SyncCB) error {
	h.mu.Lock()
	pods := h.pods
	h.mu.Unlock()
	t0 := time.Now()
	_, err := cb(ctx, pods, nil)
	rec := syncRecord{Ms: msSince(t0), Pods: len(pods)}
	if err != nil {
		rec.Error = err.Error()
	}
	h.mu.Lock()
	h.syncs = append(h.syncs, rec)
	h.mu.Unlock()
	return err
}

// updateFn accepts every unsolicited container update.
func (h *harness) updateFn(_ context.Context, _ []*adaptation.ContainerUpdate) (
	[]*adaptation.ContainerUpdate, error) {
	return nil, nil
}

// waitPlugins waits until count plugins are registered, configured and synced.
func (h *harness) waitPlugins(count int, timeout time.Duration) reply {
	if h.current() == nil {
		return fail(fmt.Errorf("not started"))
	}
	deadline := time.Now().Add(timeout)
	seen := 0
	for {
		if r := h.current(); r != nil {
			if list, ok := listPlugins(r, 50*time.Millisecond); ok {
				seen = activeCount(list)
			}
		}
		if seen >= count {
			return reply{"ok": true, "plugins": seen}
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("timed out: %d of %d plugins ready after %v",
				seen, count, timeout)
			return reply{"ok": false, "error": err.Error(), "plugins": seen}
		}
		time.Sleep(5 * time.Millisecond)
	}
}
