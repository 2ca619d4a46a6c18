//go:build !nri_pre04

package main

import (
	"context"

	"github.com/containerd/nri/pkg/api"
)

// ctxHandlers adapts the plugin to the stub interfaces of NRI v0.4.0+.
type ctxHandlers struct{ p *plugin }

func handlers(p *plugin) interface{} {
	return &ctxHandlers{p}
}

func (h *ctxHandlers) Configure(_ context.Context, config, runtime, version string) (
	api.EventMask, error) {
	return h.p.configure(config, runtime, version)
}

func (h *ctxHandlers) Synchronize(_ context.Context, pods []*api.PodSandbox,
	_ []*api.Container) ([]*api.ContainerUpdate, error) {
	h.p.synchronize(pods)
	return nil, nil
}

func (h *ctxHandlers) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	return h.p.runPodSandbox(pod)
}
