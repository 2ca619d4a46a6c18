//go:build nri_pre04

package main

import "github.com/containerd/nri/pkg/api"

// plainHandlers adapts the plugin to the stub interfaces of NRI v0.3.0.
type plainHandlers struct{ p *plugin }

func handlers(p *plugin) interface{} {
	return &plainHandlers{p}
}

func (h *plainHandlers) Configure(config, runtime, version string) (api.EventMask, error) {
	return h.p.configure(config, runtime, version)
}

func (h *plainHandlers) Synchronize(pods []*api.PodSandbox, _ []*api.Container) (
	[]*api.ContainerUpdate, error) {
	h.p.synchronize(pods)
	return nil, nil
}

func (h *plainHandlers) RunPodSandbox(pod *api.PodSandbox) error {
	return h.p.runPodSandbox(pod)
}
