package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// maxKeptLogs bounds the captured NRI log; older lines are dropped.
const maxKeptLogs = 20000

// logEntry is one captured NRI log line.
type logEntry struct {
	Seq   int     `json:"seq"`
	Ms    float64 `json:"ms"`
	Level string  `json:"level"`
	Msg   string  `json:"msg"`
}

// logStore is the NRI logger: it echoes lines to a writer and keeps them.
type logStore struct {
	mu      sync.Mutex
	out     io.Writer
	t0      time.Time
	entries []logEntry
	next    int
	changed chan struct{}
	onLine  func(level, msg string)
}

func newLogStore(out io.Writer) *logStore {
	return &logStore{out: out, t0: time.Now(), changed: make(chan struct{})}
}

func (s *logStore) add(level, format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	e := logEntry{Seq: s.next, Ms: msSince(s.t0), Level: level, Msg: msg}
	s.next++
	s.entries = append(s.entries, e)
	if len(s.entries) > maxKeptLogs {
		s.entries = s.entries[len(s.entries)-maxKeptLogs:]
	}
	hook := s.onLine
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	fmt.Fprintf(s.out, "%9.3fms %-5s %s\n", e.Ms, level, msg)
	if hook != nil {
		hook(level, msg)
	}
}

// Debugf implements the NRI logger interface.
func (s *logStore) Debugf(_ context.Context, format string, args ...interface{}) {
	s.add("debug", format, args...)
}

// Infof implements the NRI logger interface.
func (s *logStore) Infof(_ context.Context, format string, args ...interface{}) {
	s.add("info", format, args...)
}

// Warnf implements the NRI logger interface.
func (s *logStore) Warnf(_ context.Context, format string, args ...interface{}) {
	s.add("warn", format, args...)
}

// Errorf implements the NRI logger interface.
func (s *logStore) Errorf(_ context.Context, format string, args ...interface{}) {
	s.add("error", format, args...)
}

// since returns the kept lines with Seq >= seq, plus the next sequence number.
func (s *logStore) since(seq int) ([]logEntry, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []logEntry{}
	for _, e := range s.entries {
		if e.Seq >= seq {
			out = append(out, e)
		}
	}
	return out, s.next
}

// nextSeq returns the sequence number the next line will get.
func (s *logStore) nextSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// tail returns the last n kept lines.
func (s *logStore) tail(n int) []logEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := len(s.entries) - n
	if from < 0 {
		from = 0
	}
	return append([]logEntry{}, s.entries[from:]...)
}

// waitMatch waits for a line with Seq >= seq matching re, up to the deadline.
func (s *logStore) waitMatch(re *regexp.Regexp, seq int, deadline time.Time) *logEntry {
	for {
		s.mu.Lock()
		ch := s.changed
		for i := range s.entries {
			if e := s.entries[i]; e.Seq >= seq && re.MatchString(e.Msg) {
				s.mu.Unlock()
				return &e
			}
		}
		s.mu.Unlock()
		if !waitUntil(ch, deadline) {
			return nil
		}
	}
}

// waitUntil waits for ch to close; false once the deadline has passed.
func waitUntil(ch <-chan struct{}, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func msSince(t time.Time) float64 {
	return float64(time.Since(t).Microseconds()) / 1000
}

// quoted extracts the first double-quoted word of a log message.
func quoted(msg string) string {
	i := strings.IndexByte(msg, '"')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(msg[i+1:], '"')
	if j < 0 {
		return ""
	}
	return msg[i+1 : i+1+j]
}
