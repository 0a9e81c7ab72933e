// Package hashcopy streams a body into a file while hashing it, for the
// object stores' puts and multipart parts.
//
// Profiles of 1 GiB PUTs showed one goroutine reading the socket, writing
// the file and computing the MD5 ETag in turn, so the MD5 (about 700 MB/s
// on one core) and the copies added up, and the fsync at the end then
// wrote the whole file to disk after the body was received. Here the hash
// runs on its own goroutine over the buffers just written, and writeback
// of what was written is started as the body arrives, so the final fsync
// only waits for the tail: the put costs about max(receive, hash, disk)
// instead of their sum.
package hashcopy

import (
	"context"
	"errors"
	"hash"
	"io"
	"os"
	"sync"
)

// bufSize is the size of one read: large, so that a 1 GiB body is a few
// thousand reads and writes, not hundreds of thousands.
const bufSize = 1 << 20

// nbufs buffers are in flight per copy: one being read and written, the
// others queued for the hasher.
const nbufs = 4

// writebackEvery is how much is written before writeback of it is started.
const writebackEvery = 8 << 20

// smallMax: bodies up to this size (when their size is known) are copied
// and hashed in line; a goroutine and 4 MiB of buffers are not worth it.
const smallMax = 256 << 10

var bigPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

var smallPool = sync.Pool{New: func() any { b := make([]byte, smallMax); return &b }}

// Options tune a copy.
type Options struct {
	// Size is the body's size if known, else -1; it only picks the
	// strategy, the body is read to its end either way.
	Size int64
	// Max fails the copy with ErrTooLarge once more than Max bytes arrive
	// (0: no limit).
	Max int64
	// WriteBack starts writeback of the written bytes as they arrive
	// (for files that are fsynced at the end).
	WriteBack bool
}

// ErrTooLarge is returned when a body exceeds Options.Max.
var ErrTooLarge = errors.New("body exceeds the size limit")

// Copy writes r to f at offset off (pwrite: f's offset is not used, so
// several copies may share f), feeding every byte to h (which may be nil).
// It returns the number of bytes written. The context is checked between
// reads.
func Copy(ctx context.Context, f *os.File, off int64, r io.Reader, h hash.Hash, opts Options) (int64, error) {
	if opts.Size >= 0 && opts.Size <= smallMax {
		return copySmall(ctx, f, off, r, h, opts)
	}
	return copyLarge(ctx, f, off, r, h, opts)
}

func copySmall(ctx context.Context, f *os.File, off int64, r io.Reader, h hash.Hash, opts Options) (int64, error) {
	bp := smallPool.Get().(*[]byte)
	defer smallPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := fill(r, buf)
		if m > 0 {
			if opts.Max > 0 && n+int64(m) > opts.Max {
				return n, ErrTooLarge
			}
			if _, err := f.WriteAt(buf[:m], off+n); err != nil {
				return n, err
			}
			if h != nil {
				h.Write(buf[:m])
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func copyLarge(ctx context.Context, f *os.File, off int64, r io.Reader, h hash.Hash, opts Options) (n int64, err error) {
	var bufs [nbufs]*[]byte
	for i := range bufs {
		bufs[i] = bigPool.Get().(*[]byte)
	}
	// Buffers are used round robin. A token in free says the oldest buffer
	// may be filled again: the hasher returns one per buffer, in order.
	free := make(chan struct{}, nbufs)
	for range nbufs {
		free <- struct{}{}
	}
	var toHash chan []byte
	var hashed chan struct{}
	if h != nil {
		toHash = make(chan []byte, nbufs)
		hashed = make(chan struct{})
		go func() {
			defer close(hashed)
			for b := range toHash {
				h.Write(b)
				free <- struct{}{}
			}
		}()
	}
	defer func() {
		if toHash != nil {
			close(toHash)
			<-hashed // h is complete, and no buffer is in use
		}
		for _, b := range bufs {
			bigPool.Put(b)
		}
	}()
	synced := int64(0) // bytes whose writeback was started
	for i := 0; ; i++ {
		<-free
		if err := ctx.Err(); err != nil {
			return n, err
		}
		buf := *bufs[i%nbufs]
		m, rerr := fill(r, buf)
		if m > 0 {
			if opts.Max > 0 && n+int64(m) > opts.Max {
				return n, ErrTooLarge
			}
			if _, err := f.WriteAt(buf[:m], off+n); err != nil {
				return n, err
			}
			n += int64(m)
			if toHash != nil {
				toHash <- buf[:m]
			} else {
				free <- struct{}{}
			}
			if opts.WriteBack && n-synced >= writebackEvery {
				startWriteback(f, off+synced, n-synced)
				synced = n
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// fill reads into buf until it is full or r fails. Unlike io.ReadFull it
// passes r's errors on unchanged: io.EOF is the body's clean end, and
// anything else, io.ErrUnexpectedEOF included (what net/http's body
// returns when the client disconnects before Content-Length bytes), is a
// failed body that must not be stored. An error that comes with the read
// that fills buf is returned too, not dropped.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
