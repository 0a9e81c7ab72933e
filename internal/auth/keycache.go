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
	scope := cred.scope()
	if c.ttl > 0 {
		c.mu.Lock()
		if e, ok := c.m[cred.AccessKeyID]; ok && c.now().Sub(e.fetched) < c.ttl {
			k := e.key
			sk, ok := e.signing[scope]
			if !ok {
				sk = signingKey(k.SecretAccessKey, cred)
				e.signing[scope] = sk
			}
			c.mu.Unlock()
			return k, sk, nil
		}
		gen := c.gen
		c.mu.Unlock()
		k, err := load(ctx, cred.AccessKeyID)
		if err != nil {
			return Key{}, nil, err
		}
		sk := signingKey(k.SecretAccessKey, cred)
		c.mu.Lock()
		if c.gen == gen {
			if len(c.m) >= maxCachedKeys {
				clear(c.m)
			}
			c.m[cred.AccessKeyID] = &cachedKey{key: k, fetched: c.now(), signing: map[string][]byte{scope: sk}}
		}
		c.mu.Unlock()
		return k, sk, nil
	}
	k, err := load(ctx, cred.AccessKeyID)
	if err != nil {
		return Key{}, nil, err
	}
	return k, signingKey(k.SecretAccessKey, cred), nil
}
