package engine

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// ErrCorruptCompressed means a gzip or zstd file ends before its stream
// does, or fails its checksum.
var ErrCorruptCompressed = errors.New("compressed file is truncated or corrupt")

// CheckCompressedFile reads a local gzip or zstd file (recognised by its
// magic bytes; other files pass at once) to its end, checking the stream's
// trailer and checksum. DuckDB's CSV reader stops without an error where a
// truncated gzip stream ends, so a file cut in half would load half its
// rows as a success; writers (jobs, COPY) call this before reading.
func CheckCompressedFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(4)
	var r io.Reader
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptCompressed, err)
		}
		defer zr.Close()
		r = zr
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptCompressed, err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil
	}
	if _, err := io.Copy(io.Discard, contextReader{ctx, r}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w (%v): upload the complete file again", ErrCorruptCompressed, err)
	}
	return nil
}
