package engine

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// MaxJSONDepth is how deeply JSON values may nest in a file DuckDB reads.
// DuckDB's JSON reader recurses once per level while it infers and builds
// types; 30,000 levels (a 60 KB file) overflow a thread's stack and kill
// the whole process. Real data nests a few dozen levels; the bound leaves
// room for far more while staying well below what DuckDB survives (10,000
// levels were read without harm in tests).
const MaxJSONDepth = 1000

// ErrJSONTooDeep means a JSON file nests deeper than MaxJSONDepth.
var ErrJSONTooDeep = errors.New("JSON nested too deeply")

// CheckJSONDepth reads a JSON (or newline-delimited JSON) stream and fails
// with ErrJSONTooDeep if any value nests deeper than max levels. It is a
// byte scanner, not a parser: malformed JSON is DuckDB's to report.
func CheckJSONDepth(r io.Reader, max int) error {
	br := bufio.NewReaderSize(r, 64<<10)
	depth, inString, escaped := 0, false, false
	var off int64
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		off++
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return fmt.Errorf("%w: more than %d levels at byte %d", ErrJSONTooDeep, max, off)
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
	}
}

// fileChecks remembers files that passed a check (by check, path, size and
// modification time), so that queries do not read them again.
type fileChecks struct {
	mu sync.Mutex
	ok map[string]string // check + "\x00" + path → stamp
}

// once runs check on a local file unless the same file, unchanged, passed it
// before.
func (e *Engine) once(ctx context.Context, name, path string, check func(context.Context, string) error) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	key, stamp := name+"\x00"+path, fmt.Sprintf("%d/%d", st.Size(), st.ModTime().UnixNano())
	e.checked.mu.Lock()
	cached := e.checked.ok[key] == stamp
	e.checked.mu.Unlock()
	if cached {
		return nil
	}
	if err := check(ctx, path); err != nil {
		return err
	}
	e.checked.mu.Lock()
	if e.checked.ok == nil || len(e.checked.ok) > 100_000 {
		e.checked.ok = map[string]string{}
	}
	e.checked.ok[key] = stamp
	e.checked.mu.Unlock()
	return nil
}

// CheckJSONFile bounds the nesting of a local JSON file (gzip and zstd are
// recognised by their magic bytes) before DuckDB reads it. A compressed
// file that is cut short fails too.
func (e *Engine) CheckJSONFile(ctx context.Context, path string) error {
	return e.once(ctx, "json", path, checkJSONFile)
}

func checkJSONFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, closeFn, _, err := decompressing(f)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptCompressed, err)
	}
	defer closeFn()
	if err := CheckJSONDepth(contextReader{ctx, r}, MaxJSONDepth); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, ErrJSONTooDeep) {
			return fmt.Errorf("%w (%v): upload the complete file again", ErrCorruptCompressed, err)
		}
		return err
	}
	return nil
}

// CheckCompressed is CheckCompressedFile, remembered per unchanged file.
func (e *Engine) CheckCompressed(ctx context.Context, path string) error {
	return e.once(ctx, "compressed", path, CheckCompressedFile)
}

// decompressing returns a reader of f's content, decompressed if f starts
// with gzip's or zstd's magic bytes. Reading it to its end checks the
// stream's trailer: a truncated stream ends in an error, not in EOF.
// compressed says whether f was gzip or zstd.
func decompressing(f *os.File) (r io.Reader, closeFn func(), compressed bool, err error) {
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, true, err
		}
		return zr, func() { zr.Close() }, true, nil
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, true, err
		}
		return zr, zr.Close, true, nil
	}
	return br, func() {}, false, nil
}

// contextReader stops a long read when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
