package icebergrest

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tarn-lake/tarn/internal/auth"
)

// maxTokenRequest bounds an OAuth2 token request's form.
const maxTokenRequest = 64 << 10

const (
	grantClientCredentials = "client_credentials"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess        = "urn:ietf:params:oauth:token-type:access_token"
)

// oauthTokens is the spec's OAuth2 token endpoint. The client credentials
// grant takes an access key id as client_id and its secret as
// client_secret (what the clients' credential=id:secret sends), in the
// form or HTTP Basic, and answers the key's tarn bearer token. The token
// exchange grant (what the Java client sends to refresh) answers a valid
// tarn token with itself.
func (s *Server) oauthTokens(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the token request is not a form of at most 64 KiB")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case grantClientCredentials:
		id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
			id, secret = bid, bsecret
		}
		if id == "" || secret == "" {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "client_id (an access key id) and client_secret (its secret) are required")
			return
		}
		k, err := s.keyForSecret(r, id, secret)
		if err != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "the access key id or its secret is not valid")
			return
		}
		writeToken(w, auth.Token(k), s.cfg.TokenLifetime.Seconds())
	case grantTokenExchange:
		tok := r.PostForm.Get("subject_token")
		check, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
		check.Header.Set("Authorization", "Bearer "+tok)
		if _, err := s.auth.AuthenticateAPI(check); tok == "" || err != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "subject_token is not a valid tarn token")
			return
		}
		writeToken(w, tok, s.cfg.TokenLifetime.Seconds())
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+truncate(gt, 64)+" is not client_credentials or token exchange")
	}
}

// keyForSecret returns the active key id whose secret is secret.
func (s *Server) keyForSecret(r *http.Request, id, secret string) (auth.Key, error) {
	if auth.ValidateAccessKeyID(id) != nil {
		return auth.Key{}, auth.ErrInvalidAccessKeyID
	}
	k, err := s.auth.GetKey(r.Context(), id)
	if err != nil {
		return auth.Key{}, err
	}
	if k.Inactive || !hmac.Equal([]byte(k.SecretAccessKey), []byte(secret)) {
		return auth.Key{}, errors.New("secret does not match")
	}
	return k, nil
}

func writeToken(w http.ResponseWriter, token string, expires float64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":      token,
		"token_type":        "bearer",
		"expires_in":        int64(expires),
		"issued_token_type": tokenTypeAccess,
	})
}

// oauthError writes the spec's OAuthError.
func oauthError(w http.ResponseWriter, code int, typ, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": typ, "error_description": desc})
}
