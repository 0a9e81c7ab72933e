package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// checksumAlgorithms are the x-amz-checksum-* trailers that are verified.
var checksumAlgorithms = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"x-amz-checksum-crc64nvme": func() hash.Hash { return crc64.New(crc64NVMETable) },
	"x-amz-checksum-sha1":      sha1.New,
	"x-amz-checksum-sha256":    sha256.New,
	"x-amz-checksum-sha512":    sha512.New,
	"x-amz-checksum-md5":       md5.New,
	"x-amz-checksum-xxhash64":  func() hash.Hash { return xxhash.New() },
	"x-amz-checksum-xxhash3":   func() hash.Hash { return xxh3.New() },
	"x-amz-checksum-xxhash128": func() hash.Hash { return xxh3.New128() },
}

// crc64NVMETable is CRC-64/NVME (polynomial 0xad93d23594c93659, here bit-reversed).
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

const (
	chunkStringToSignPrefix   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerStringToSignPrefix = "AWS4-HMAC-SHA256-TRAILER"
	maxChunkLine              = 4 << 10
	maxTrailerBytes           = 16 << 10
	// minChunkSize is S3's smallest chunk but for the last with data.
	minChunkSize = 8 << 10
)

// installChunkedReader replaces r.Body by an aws-chunked decoder.
func (s *Service) installChunkedReader(r *http.Request, sg signed, signingKey []byte) error {
	const missingLength = "You must provide the Content-Length HTTP header."
	dl := r.Header.Get("X-Amz-Decoded-Content-Length")
	if dl == "" {
		return withMessage(fmt.Errorf("%w: x-amz-decoded-content-length (required with %s)", ErrMissingContentLength, sg.payload), missingLength)
	}
	decoded, err := strconv.ParseInt(dl, 10, 64)
	if err != nil || decoded < 0 {
		return withMessage(fmt.Errorf("%w: x-amz-decoded-content-length %q is not a length", ErrMissingContentLength, truncate(dl, 32)), missingLength)
	}
	c := &chunkedReader{
		signed:     sg.payload != StreamingUnsignedPayloadTrailer,
		trailers:   sg.payload != StreamingPayload,
		key:        signingKey,
		prefix:     sg.amzDate + "\n" + sg.cred.scope() + "\n",
		prevSig:    sg.signature,
		maxChunk:   s.cfg.MaxChunkSize,
		decodedLen: decoded,
		req:        r,
	}
	if c.trailers {
		if name := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer"))); name != "" {
			newHash, ok := checksumAlgorithms[name]
			if !ok {
				return fmt.Errorf("%w: x-amz-trailer %q is not a supported checksum (%s)", ErrUnsupportedAuth, truncate(name, 64),
					"x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256, -sha512, -md5, -xxhash64, -xxhash3 or -xxhash128")
			}
			c.checksumName, c.checksum = name, newHash()
		}
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	c.rc = r.Body
	c.src = bufio.NewReaderSize(r.Body, bufioReaderSize)
	r.Body = c
	r.ContentLength = decoded
	r.Header.Set("Content-Length", strconv.FormatInt(decoded, 10))
	var enc []string
	for _, v := range r.Header.Values("Content-Encoding") {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
				enc = append(enc, e)
			}
		}
	}
	if len(enc) == 0 {
		r.Header.Del("Content-Encoding")
	} else {
		r.Header.Set("Content-Encoding", strings.Join(enc, ","))
	}
	return nil
}

// chunkedReader decodes an aws-chunked body:
//
//	<hex size>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n[trailers]\r\n
//
// (without ";chunk-signature=" for STREAMING-UNSIGNED-PAYLOAD-TRAILER). A
// chunk is read whole and verified before any of its bytes is returned, so
// a caller never sees unverified data. Errors are sticky.
type chunkedReader struct {
	rc  io.Closer
	src *bufio.Reader
	req *http.Request

	signed   bool // chunks carry chained signatures
	trailers bool // trailer lines follow the last chunk
	key      []byte
	prefix   string // "<amz date>\n<scope>\n"
	prevSig  string
	maxChunk int

	checksumName string
	checksum     hash.Hash

	decodedLen, seen int64
	chunks           int   // chunks read
	lastSize         int64 // size of the previous chunk
	buf              []byte
	pos              int
	done             bool
	err              error
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.pos >= len(c.buf) {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			c.err = fmt.Errorf("cannot read aws-chunked body: %w", err)
			c.buf, c.pos = nil, 0
		}
	}
	n := copy(p, c.buf[c.pos:])
	c.pos += n
	return n, nil
}

func (c *chunkedReader) Close() error { return c.rc.Close() }

// readLine reads one line ending in \r\n, without it.
func (c *chunkedReader) readLine(limit int) (string, error) {
	line, err := c.src.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > limit {
		return "", fmt.Errorf("%w: line longer than %d bytes", ErrIncompleteBody, limit)
	}
	if err != nil {
		return "", eofIsIncomplete(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("%w: line does not end in CRLF", ErrIncompleteBody)
	}
	return string(line[:len(line)-2]), nil
}

const bodyEndedMessage = "The request body terminated unexpectedly"

func eofIsIncomplete(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return withMessage(fmt.Errorf("%w: body ends early", ErrIncompleteBody), bodyEndedMessage)
	}
	return withMessage(fmt.Errorf("%w: %w", ErrIncompleteBody, err), bodyEndedMessage)
}

const lengthMessage = "You did not provide the number of bytes specified by the Content-Length HTTP header"

func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine(maxChunkLine)
	if err != nil {
		return err
	}
	sizeHex, ext, hasExt := strings.Cut(line, ";")
	size, err := strconv.ParseUint(sizeHex, 16, 63)
	if err != nil || sizeHex == "" || len(sizeHex) > 16 {
		return fmt.Errorf("%w: chunk size %q is not hexadecimal", ErrIncompleteBody, truncate(sizeHex, 32))
	}
	var sig string
	if c.signed {
		name, v, _ := strings.Cut(ext, "=")
		if !hasExt || name != "chunk-signature" || checkSignatureHex(v) != nil {
			return fmt.Errorf("%w: chunk header %q has no chunk-signature", ErrIncompleteBody, truncate(line, 100))
		}
		sig = v
	}
	if size > uint64(c.maxChunk) {
		return fmt.Errorf("%w: chunk of %d bytes is larger than %d", ErrEntityTooLarge, size, c.maxChunk)
	}
	if size > 0 && c.chunks > 0 && c.lastSize < minChunkSize {
		// Only the last chunk with data may be smaller than 8 KiB.
		return withFields(fmt.Errorf("%w: chunk %d has %d bytes", ErrInvalidChunkSize, c.chunks, c.lastSize),
			map[string]string{"Chunk": strconv.Itoa(c.chunks), "BadChunkSize": strconv.FormatInt(c.lastSize, 10)},
			"Only the last chunk is allowed to have a size less than 8192 bytes")
	}
	c.chunks++
	c.lastSize = int64(size)
	if cap(c.buf) < int(size) {
		c.buf = make([]byte, size)
	}
	c.buf, c.pos = c.buf[:size], 0
	if _, err := io.ReadFull(c.src, c.buf); err != nil {
		return eofIsIncomplete(err)
	}
	if size > 0 || !c.trailers {
		// Every chunk's data is followed by CRLF; for the last chunk of a
		// body without trailers that CRLF is the final empty line.
		if l, err := c.readLine(2); err != nil || l != "" {
			if err == nil && size == 0 {
				err = fmt.Errorf("%w: trailer after the last chunk without x-amz-trailer support", ErrMalformedTrailer)
			} else if err == nil {
				err = fmt.Errorf("%w: chunk data is not followed by CRLF", ErrIncompleteBody)
			}
			return err
		}
	}
	if c.seen+int64(size) > c.decodedLen {
		// Checked once the chunk is whole: a chunk cut short is an
		// incomplete body, one that is whole but too long a wrong length.
		return withMessage(fmt.Errorf("%w: chunks hold more than x-amz-decoded-content-length %d bytes", ErrIncompleteBody, c.decodedLen), lengthMessage)
	}
	if c.signed {
		sum := sha256.Sum256(c.buf)
		sts := chunkStringToSignPrefix + "\n" + c.prefix + c.prevSig + "\n" + EmptySHA256 + "\n" + hex.EncodeToString(sum[:])
		want := hex.EncodeToString(hmacSHA256(c.key, sts))
		if !hmac.Equal([]byte(want), []byte(sig)) {
			return fmt.Errorf("chunk %d bytes after byte %d: %w", size, c.seen, ErrSignatureDoesNotMatch)
		}
		c.prevSig = sig
	}
	c.seen += int64(size)
	if c.checksum != nil {
		c.checksum.Write(c.buf)
	}
	if size > 0 {
		return nil
	}
	if c.seen != c.decodedLen {
		return withMessage(fmt.Errorf("%w: body has %d bytes, x-amz-decoded-content-length says %d", ErrIncompleteBody, c.seen, c.decodedLen), lengthMessage)
	}
	if c.trailers {
		if err := c.readTrailers(); err != nil {
			return err
		}
	}
	c.done = true
	return nil
}

// readTrailers reads "name:value\r\n" lines up to an empty line, verifies
// the trailer signature (signed variant) and the checksum, and sets
// r.Trailer.
func (c *chunkedReader) readTrailers() error {
	var canon strings.Builder
	var trailerSig string
	values := map[string]string{}
	total := 0
	for {
		line, err := c.readLine(maxChunkLine)
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		if total += len(line); total > maxTrailerBytes {
			return fmt.Errorf("%w: trailers longer than %d bytes", ErrIncompleteBody, maxTrailerBytes)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%w: trailer %q is not name:value", ErrMalformedTrailer, truncate(line, 64))
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		if trailerSig != "" {
			return fmt.Errorf("%w: trailer %q after x-amz-trailer-signature", ErrIncompleteBody, truncate(name, 64))
		}
		if c.signed && len(values) > 0 {
			// The signed trailer is the checksum and then its signature.
			return fmt.Errorf("%w: trailer %q where x-amz-trailer-signature belongs", ErrIncompleteBody, truncate(name, 64))
		}
		if name != c.checksumName {
			// Nothing would verify it, and the handler would store it.
			return fmt.Errorf("%w: trailer %q was not announced by x-amz-trailer", ErrMalformedTrailer, truncate(name, 64))
		}
		values[name] = value
		canon.WriteString(name + ":" + value + "\n")
	}
	if _, ok := values[c.checksumName]; c.checksum != nil && !ok {
		return fmt.Errorf("%w: trailer %s announced by x-amz-trailer is missing", ErrMalformedTrailer, c.checksumName)
	}
	if c.signed {
		if checkSignatureHex(trailerSig) != nil {
			return fmt.Errorf("%w: no valid x-amz-trailer-signature", ErrIncompleteBody)
		}
		sts := trailerStringToSignPrefix + "\n" + c.prefix + c.prevSig + "\n" + hexSHA256([]byte(canon.String()))
		if want := hex.EncodeToString(hmacSHA256(c.key, sts)); !hmac.Equal([]byte(want), []byte(trailerSig)) {
			return fmt.Errorf("trailer: %w", ErrSignatureDoesNotMatch)
		}
	}
	if c.checksum != nil {
		got, ok := values[c.checksumName]
		if !ok {
			return fmt.Errorf("%w: trailer %s announced by x-amz-trailer is missing", ErrIncompleteBody, c.checksumName)
		}
		want := base64.StdEncoding.EncodeToString(c.checksum.Sum(nil))
		if b, err := base64.StdEncoding.DecodeString(got); err != nil || len(b) != c.checksum.Size() {
			return withMessage(fmt.Errorf("%w: %s %q", ErrInvalidChecksum, c.checksumName, truncate(got, 100)),
				"Value for %s trailing header is invalid.", c.checksumName)
		}
		if !bytes.Equal([]byte(got), []byte(want)) {
			return withMessage(fmt.Errorf("%w: %s is %s, the body's is %s", ErrBadDigest, c.checksumName, truncate(got, 100), want),
				"The %s you specified did not match the calculated checksum.", strings.ToUpper(strings.TrimPrefix(c.checksumName, "x-amz-checksum-")))
		}
	}
	if c.req != nil && len(values) > 0 {
		if c.req.Trailer == nil {
			c.req.Trailer = http.Header{}
		}
		for k, v := range values {
			c.req.Trailer.Set(textproto.CanonicalMIMEHeaderKey(k), v)
		}
	}
	return nil
}
