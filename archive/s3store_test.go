package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestAskAgain: a small answer cut off in the middle is asked for again,
// up to maxResumes times more; an answer of the store's, a cancel or any
// other error is not.
func TestAskAgain(t *testing.T) {
	cut := fmt.Errorf("reading the answer: %w", io.ErrUnexpectedEOF)
	reset := fmt.Errorf("read tcp: %w", syscall.ECONNRESET)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name   string
		ctx    context.Context
		errs   []error // what each ask gives; nil after the list
		asks   int
		wantOK bool
	}{
		{"cut twice", context.Background(), []error{cut, reset}, 3, true},
		{"cut every time", context.Background(), []error{cut, cut, cut, cut, cut, cut, cut}, maxResumes + 1, false},
		{"the store's answer", context.Background(), []error{minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}}, 1, false},
		{"refused", context.Background(), []error{syscall.ECONNREFUSED}, 1, false},
		{"canceled", canceled, []error{cut}, 1, false},
	} {
		asks := 0
		err := askAgain(c.ctx, func() error {
			asks++
			if asks <= len(c.errs) {
				return c.errs[asks-1]
			}
			return nil
		})
		if asks != c.asks || (err == nil) != c.wantOK || err != nil && !errors.Is(err, c.errs[asks-1]) && c.errs[asks-1] != err {
			t.Errorf("%s: %d asks, %v; want %d asks, ok %v", c.name, asks, err, c.asks, c.wantOK)
		}
	}
}
