package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/api"
)

// settings controls what the plugin does on each event.
type settings struct {
	out   string
	noop  bool
	delay time.Duration
	fail  string
}

// apply overrides settings with key=value lines from a drop-in config.
func (s *settings) apply(config string) error {
	for _, line := range strings.Split(config, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if err := s.set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
			return err
		}
	}
	return nil
}

func (s *settings) set(k, v string) (err error) {
	switch k {
	case "out":
		s.out = v
	case "noop":
		s.noop, err = strconv.ParseBool(v)
	case "delay":
		s.delay, err = time.ParseDuration(v)
	case "fail":
		s.fail = v
	default:
		err = fmt.Errorf("unknown setting %q", k)
	}
	return err
}

// plugin records the events it sees.
type plugin struct {
	mu       sync.Mutex
	settings settings
	file     *os.File
}

// record is one line of the output file.
type record struct {
	Event       string            `json:"event"`
	Ms          int64             `json:"ms"`
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	UID         string            `json:"uid,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Pods        *int              `json:"pods,omitempty"`
	Runtime     string            `json:"runtime,omitempty"`
	Version     string            `json:"version,omitempty"`
	Config      *string           `json:"config,omitempty"`
}

func (p *plugin) configure(config, runtime, version string) (api.EventMask, error) {
	p.mu.Lock()
	err := p.settings.apply(config)
	p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	p.write(record{Event: "Configure", Runtime: runtime, Version: version, Config: &config})
	return api.MustParseEventMask("RunPodSandbox"), nil
}

func (p *plugin) synchronize(pods []*api.PodSandbox) {
	n := len(pods)
	p.write(record{Event: "Synchronize", Pods: &n})
}

func (p *plugin) runPodSandbox(pod *api.PodSandbox) error {
	p.mu.Lock()
	s := p.settings
	p.mu.Unlock()
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if s.fail != "" {
		return errors.New(s.fail)
	}
	p.write(record{Event: "RunPodSandbox", ID: pod.Id, Name: pod.Name,
		Namespace: pod.Namespace, UID: pod.Uid, Annotations: pod.Annotations})
	return nil
}

// write appends one JSON line, unless noop is set or no file is configured.
func (p *plugin) write(r record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.settings.noop || p.settings.out == "" {
		return
	}
	if p.file == nil {
		f, err := os.OpenFile(p.settings.out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return
		}
		p.file = f
	}
	r.Ms = time.Now().UnixMilli()
	line, _ := json.Marshal(r)
	_, _ = p.file.Write(append(line, '\n'))
}

// closed runs when the runtime connection goes away.
func (p *plugin) closed() {
	p.write(record{Event: "Closed"})
	os.Exit(0)
}
