// Package faultpoint lets tests kill a starmig process at a chosen moment,
// exactly as kill -9 would: with STARMIG_FAULT=NAME:N in its environment,
// the process sends itself SIGKILL the N-th time it reaches the point NAME.
// Unset, a point costs one comparison.
package faultpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Env is the variable that arms a point.
const Env = "STARMIG_FAULT"

var (
	once  sync.Once
	name  string
	after int
	mu    sync.Mutex
	hits  int
)

func arm() {
	spec := os.Getenv(Env)
	if spec == "" {
		return
	}
	n, count, _ := strings.Cut(spec, ":")
	c, err := strconv.Atoi(count)
	if err != nil || c < 1 {
		c = 1
	}
	name, after = n, c
}

// Hit marks that the process reached the point p.
func Hit(p string) {
	once.Do(arm)
	if name == "" || p != name {
		return
	}
	mu.Lock()
	hits++
	n := hits
	mu.Unlock()
	if n == after {
		if self, err := os.FindProcess(os.Getpid()); err == nil {
			_ = self.Kill() // SIGKILL where there are signals
		}
		select {} // the signal is on its way
	}
}
