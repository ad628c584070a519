package load

import "bytes"

// JSONB is JSON text as a jsonb column takes it. jsonb refuses the escape
// \u0000 (NUL), which STAR1 text may hold, so each such escape becomes the
// escape of the six characters \u0000, visible as them in the column, as
// extract.Visible writes a NUL. Everything else, the escape of a backslash
// before "u0000" among it, is copied as it is.
func JSONB(js []byte) []byte {
	nul := []byte(`\u0000`)
	if !bytes.Contains(js, nul) {
		return js
	}
	out := make([]byte, 0, len(js)+8)
	for i := 0; i < len(js); i++ {
		if js[i] != '\\' || i+1 == len(js) {
			out = append(out, js[i])
			continue
		}
		if bytes.HasPrefix(js[i:], nul) {
			out = append(out, `\\u0000`...)
			i += len(nul) - 1
			continue
		}
		out = append(out, js[i], js[i+1]) // an escape of its own
		i++
	}
	return out
}
