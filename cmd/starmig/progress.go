package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a phase is: a bar on a terminal (count, rate and
// time left when the total is known), a log line every tenth otherwise,
// nothing with --quiet or --json. Its methods may be called from several
// goroutines.
type progress struct {
	mu     sync.Mutex
	bar    *progressbar.ProgressBar
	log    *slog.Logger
	what   string
	total  int64 // -1 when unknown
	next   int64 // the next count a log line is due at
	last   int64
	logged int64 // the count of the last log line
}

// barThrottle is the least time between two drawings of a bar.
var barThrottle = 100 * time.Millisecond

// progress counts rows.
func (o *globalOptions) progress(what string, total int64) *progress {
	return o.newProgress(what, total, "rows")
}

// progressBytes counts bytes.
func (o *globalOptions) progressBytes(what string, total int64) *progress {
	return o.newProgress(what, total, "")
}

// newProgress counts units ("rows", "objects"), or bytes for "".
func (o *globalOptions) newProgress(what string, total int64, units string) *progress {
	p := &progress{what: what, total: total}
	switch {
	case o.interactive():
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(o.err),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(barThrottle),
			progressbar.OptionClearOnFinish(),
		}
		if units == "" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(units))
		}
		p.bar = progressbar.NewOptions64(total, opts...)
	case !o.quiet && !o.json:
		p.log = o.log
	}
	return p
}

// set reports n units done. Reports from goroutines that overtook each
// other do not move the bar back.
func (p *progress) set(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n < p.last {
		return
	}
	p.last = n
	switch {
	case p.bar != nil:
		_ = p.bar.Set64(n)
	case p.log != nil && p.total > 0 && (n >= p.next || n == p.total && n > p.logged):
		// Every tenth, and the end, which the tenths may step over.
		p.log.Info(p.what, "done", n, "total", p.total)
		p.next, p.logged = n+max(1, p.total/10), n
	}
}

// learnTotal sets the total of a progress begun without one (-1), once a
// report brings it.
func (p *progress) learnTotal(total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total >= 0 || total < 0 {
		return
	}
	p.total = total
	if p.bar != nil {
		p.bar.ChangeMax64(total)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	if p.log != nil && p.total < 0 {
		p.log.Info(p.what, "rows", p.last)
	}
}
