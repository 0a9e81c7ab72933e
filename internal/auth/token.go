package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Bearer tokens let scripts and tools that cannot sign requests (curl,
// Prometheus) call the REST API. A token is derived from an access key:
// "tarn_<access key id>_<hex HMAC-SHA256 of the id under the secret>". It
// needs no storage, and it stops working when the key is deleted or its
// secret changes.

const tokenPrefix = "tarn_"

// Token returns the bearer token of a key (which must carry its secret).
func Token(k Key) string {
	return tokenPrefix + k.AccessKeyID + "_" + tokenMAC(k)
}

func tokenMAC(k Key) string {
	m := hmac.New(sha256.New, []byte(k.SecretAccessKey))
	m.Write([]byte("tarn-api-token:" + k.AccessKeyID))
	return hex.EncodeToString(m.Sum(nil))
}

// AuthenticateAPI authenticates a REST API request: a bearer token
// ("Authorization: Bearer tarn_…") or, otherwise, Signature V4.
func (s *Service) AuthenticateAPI(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return s.Authenticate(r)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(tok), tokenPrefix)
	id, mac, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || ValidateAccessKeyID(id) != nil {
		return nil, fmt.Errorf("cannot authenticate request: %w: the bearer token is not a tarn token (tarn keys token ACCESS_KEY_ID prints one)", ErrAuthorizationHeaderMalformed)
	}
	// The key cache serves bearer tokens as it serves signatures: a REST
	// client's every call (start, poll, results) read the key from the
	// database.
	k, _, err := s.keys.get(r.Context(), id, s.activeKey)
	if errors.Is(err, ErrNoSuchKey) {
		return nil, fmt.Errorf("cannot authenticate request: %w", ErrInvalidAccessKeyID)
	}
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(mac), []byte(tokenMAC(k))) {
		return nil, fmt.Errorf("cannot authenticate request: %w: the bearer token does not match key %s", ErrSignatureDoesNotMatch, id)
	}
	k.SecretAccessKey = ""
	return &Principal{Key: k, Service: "api"}, nil
}
