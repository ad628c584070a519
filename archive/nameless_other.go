//go:build !linux

package archive

import "os"

func createNameless(string) (*os.File, error) { return nil, errNoNameless }

func linkNameless(*os.File, string) error { return errNoNameless }
