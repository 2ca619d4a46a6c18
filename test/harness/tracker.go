package main

import (
	"regexp"
	"sync"
)

// Patterns of the adaptation's own log messages (same texts v0.3.0-v0.12.2,
// unless noted).
var (
	reRegistered = regexp.MustCompile(`^plugin "(.*)" registered as "([^"]*)"`)
	// v0.8.0+ external plugins; v0.3.0-v0.6.1 log `plugin "x" connected`.
	reConnected = regexp.MustCompile(`^plugin "([^"]*)" connected( and synchronized)?$`)
	// v0.8.0+ only; older releases never synchronize launched plugins.
	reLaunchSynced = regexp.MustCompile(
		`^pre-installed NRI plugin "([^"]*)" synchronization success$`)
	reConnClosed = regexp.MustCompile(`^connection to plugin "([^"]*)" closed$`)
	// Fatal (timeout or transport) error on an event: the plugin is removed.
	reClosing = regexp.MustCompile(
		`^closing plugin (\S+), failed to handle (.*?)(?: request)?: (.*)$`)
	reSyncFailed = regexp.MustCompile(`failed to synchronize`)
	reTimeout    = regexp.MustCompile(`context deadline exceeded|registration timed out`)
	reDeprecated = regexp.MustCompile(`uses deprecated StateChange`)
)

// tracker derives plugin life-cycle facts from the captured NRI log.
type tracker struct {
	mu          sync.Mutex
	registered  []string
	synced      []string
	closed      []string
	dropped     []droppedPlugin
	failures    []string
	timedOut    bool
	deprecated  []string
	syncFailure bool
}

// droppedPlugin is one "closing plugin ..." line, split into its parts.
type droppedPlugin struct {
	Plugin string `json:"plugin"`
	Event  string `json:"event"`
	Error  string `json:"error"`
}

func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.registered, t.synced, t.closed = nil, nil, nil
	t.dropped, t.failures, t.deprecated = nil, nil, nil
	t.timedOut, t.syncFailure = false, false
}

// observe classifies one NRI log line.
func (t *tracker) observe(level, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := reRegistered.FindStringSubmatch(msg); m != nil {
		t.registered = append(t.registered, m[2])
	}
	t.observeSync(msg)
	if m := reConnClosed.FindStringSubmatch(msg); m != nil {
		t.closed = append(t.closed, m[1])
	}
	if m := reClosing.FindStringSubmatch(msg); m != nil {
		t.dropped = append(t.dropped, droppedPlugin{m[1], m[2], m[3]})
	}
	if reTimeout.MatchString(msg) {
		t.timedOut = true
	}
	if reDeprecated.MatchString(msg) {
		t.deprecated = append(t.deprecated, msg)
	}
	if level == "warn" || level == "error" {
		t.failures = append(t.failures, msg)
	}
}

func (t *tracker) observeSync(msg string) {
	if reSyncFailed.MatchString(msg) {
		t.syncFailure = true
	}
	if m := reLaunchSynced.FindStringSubmatch(msg); m != nil {
		t.synced = append(t.synced, m[1])
	}
	m := reConnected.FindStringSubmatch(msg)
	if m == nil {
		return
	}
	// Before v0.8.0 "connected" follows a failed sync as well.
	if m[2] != "" || !t.syncFailure {
		t.synced = append(t.synced, m[1])
	}
	t.syncFailure = false
}

// trackerView is the JSON form of the tracker.
type trackerView struct {
	Registered []string        `json:"registered"`
	Synced     []string        `json:"synced"`
	Closed     []string        `json:"closed"`
	Dropped    []droppedPlugin `json:"dropped"`
	Failures   []string        `json:"failures"`
	TimedOut   bool            `json:"timedOut"`
	Deprecated []string        `json:"deprecated"`
}

func (t *tracker) view() trackerView {
	t.mu.Lock()
	defer t.mu.Unlock()
	return trackerView{
		Registered: nonNil(t.registered), Synced: nonNil(t.synced),
		Closed: nonNil(t.closed), Dropped: nonNilD(t.dropped),
		Failures: nonNil(t.failures), TimedOut: t.timedOut,
		Deprecated: nonNil(t.deprecated),
	}
}

func nonNil(s []string) []string {
	return append([]string{}, s...)
}

func nonNilD(s []droppedPlugin) []droppedPlugin {
	return append([]droppedPlugin{}, s...)
}
