package auth

import (
	"context"
	"sync"
	"time"
)

// DefaultKeyCacheTTL bounds how long a key read for authentication is
// reused without asking the database again.
//
// Keys changed through this Service (CreateKey, DeleteKey, SetPolicy,
// EnsureAdmin) take effect at once: every change empties the cache. The TTL
// only bounds how long a change made by another process sharing the
// database (a `tarn keys` command run against the metadata database while a
// server runs) can go unnoticed: a deleted key keeps working, or a new
// policy is ignored, for at most this long.
const DefaultKeyCacheTTL = 2 * time.Second

// keyCache keeps recently used keys and their derived SigV4 signing keys,
// so that authenticating a request needs neither a database read nor the
// four HMACs of the key derivation. Without it every request paid a SQLite
// query (parse, prepare, step): about a tenth of the server's CPU for small
// objects.
type keyCache struct {
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	gen uint64 // bumped by every change to the keys
	m   map[string]*cachedKey
}

type cachedKey struct {
	key     Key
	fetched time.Time
	// signing keys by credential scope (date/region/service), which
	// changes once a day per region and service.
	signing map[string][]byte
}

// maxCachedKeys bounds the cache; past it the cache is emptied (keys in
// use are read again on their next request).
const maxCachedKeys = 4096

func newKeyCache(ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{ttl: ttl, now: now, m: map[string]*cachedKey{}}
}

// invalidate forgets every cached key; reads in flight do not repopulate
// the cache with what they read before the change.
func (c *keyCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// lookup returns the key id and the signing key for cred, reading the key
// from load when it is not cached or is older than the TTL.
func (c *keyCache) lookup(ctx context.Context, cred credential, load func(ctx context.Context, id string) (Key, error)) (Key, []byte, error) {
	k, e, err := c.get(ctx, cred.AccessKeyID, load)
	if err != nil {
		return Key{}, nil, err
	}
	if e == nil {
		return k, signingKey(k.SecretAccessKey, cred), nil
	}
	scope := cred.scope()
	c.mu.Lock()
	sk, ok := e.signing[scope]
	c.mu.Unlock()
	if !ok {
		sk = signingKey(k.SecretAccessKey, cred)
		c.mu.Lock()
		e.signing[scope] = sk
		c.mu.Unlock()
	}
	return k, sk, nil
}

// get returns key id, from the cache when it is fresh, else from load
// (and caches it). The entry is nil when nothing is cached (TTL 0, or a
// change to the keys came while it was read).
func (c *keyCache) get(ctx context.Context, id string, load func(ctx context.Context, id string) (Key, error)) (Key, *cachedKey, error) {
	if c.ttl <= 0 {
		k, err := load(ctx, id)
		return k, nil, err
	}
	c.mu.Lock()
	if e, ok := c.m[id]; ok && c.now().Sub(e.fetched) < c.ttl {
		c.mu.Unlock()
		return e.key, e, nil
	}
	gen := c.gen
	c.mu.Unlock()
	k, err := load(ctx, id)
	if err != nil {
		return Key{}, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return k, nil, nil
	}
	if len(c.m) >= maxCachedKeys {
		clear(c.m)
	}
	e := &cachedKey{key: k, fetched: c.now(), signing: map[string][]byte{}}
	c.m[id] = e
	return k, e, nil
}
