package pgwire

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tarn-lake/tarn/internal/auth"
)

// errAuthFailed: the client gave a wrong or unknown key; it has been told.
var errAuthFailed = errors.New("authentication failed")

const authHint = "log in with an access key: user = access key id, password = secret access key (tarn keys create NAME prints a new one)"

// authenticate asks the client for its secret access key and checks it
// against the key named by the user name. With SCRAM-SHA-256 the server
// proves it knows the secret too and the secret never crosses the
// connection (internal/auth keeps secrets retrievably, so a SCRAM
// verifier is derived from it per login with a fresh salt).
func (c *conn) authenticate(ctx context.Context, user string) (auth.Key, error) {
	if user == "" {
		fatal(c.be, codeInvalidAuth, "no user name given", authHint)
		return auth.Key{}, errAuthFailed
	}
	key, kerr := c.srv.deps.Auth.GetKey(ctx, user)
	if kerr != nil && !errors.Is(kerr, auth.ErrNoSuchKey) {
		fatal(c.be, codeInternal, "cannot read access keys: "+kerr.Error(), "")
		return auth.Key{}, kerr
	}
	secret := key.SecretAccessKey
	if kerr != nil {
		// Unknown keys go through the same exchange with a random secret,
		// so that a client cannot tell them from wrong secrets.
		secret = auth.NewSecretAccessKey()
	}
	var ok bool
	var err error
	if c.srv.cfg.Cleartext {
		ok, err = c.cleartext(secret)
	} else {
		ok, err = c.scram(secret)
	}
	if err != nil {
		return auth.Key{}, err
	}
	if !ok || kerr != nil {
		fatal(c.be, codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user), authHint)
		return auth.Key{}, errAuthFailed
	}
	key.SecretAccessKey = ""
	c.be.Send(&pgproto3.AuthenticationOk{})
	return key, nil
}

func (c *conn) cleartext(secret string) (bool, error) {
	c.be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := c.be.Flush(); err != nil {
		return false, err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return false, err
	}
	msg, err := c.be.Receive()
	if err != nil {
		return false, err
	}
	pm, isPwd := msg.(*pgproto3.PasswordMessage)
	if !isPwd {
		fatal(c.be, codeProtocol, "expected a password message", "")
		return false, errAuthFailed
	}
	return subtle.ConstantTimeCompare([]byte(pm.Password), []byte(secret)) == 1, nil
}

const scramIterations = 4096

// scram runs SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding.
func (c *conn) scram(secret string) (bool, error) {
	protoErr := func(msg string) (bool, error) {
		fatal(c.be, codeProtocol, "malformed SCRAM-SHA-256 message: "+msg, "")
		return false, errAuthFailed
	}
	c.be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
	if err := c.be.Flush(); err != nil {
		return false, err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return false, err
	}
	msg, err := c.be.Receive()
	if err != nil {
		return false, err
	}
	first, isFirst := msg.(*pgproto3.SASLInitialResponse)
	if !isFirst || first.AuthMechanism != "SCRAM-SHA-256" {
		return protoErr("expected SASLInitialResponse for SCRAM-SHA-256")
	}
	// client-first-message: gs2-header client-first-bare
	cf := string(first.Data)
	var gs2, bare string
	switch {
	case strings.HasPrefix(cf, "n,"), strings.HasPrefix(cf, "y,"):
		i := strings.Index(cf[2:], ",")
		if i < 0 {
			return protoErr("no GS2 header")
		}
		gs2, bare = cf[:2+i+1], cf[2+i+1:]
	default:
		return protoErr("channel binding is not supported")
	}
	var cnonce string
	for _, attr := range strings.Split(bare, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			cnonce = v
		}
	}
	if cnonce == "" {
		return protoErr("no client nonce")
	}
	salt := make([]byte, 16)
	nonce := make([]byte, 18)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(nonce)
	fullNonce := cnonce + base64.RawStdEncoding.EncodeToString(nonce)
	serverFirst := fmt.Sprintf("r=%s,s=%s,i=%d", fullNonce, base64.StdEncoding.EncodeToString(salt), scramIterations)
	c.be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if err := c.be.Flush(); err != nil {
		return false, err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return false, err
	}
	if msg, err = c.be.Receive(); err != nil {
		return false, err
	}
	final, isFinal := msg.(*pgproto3.SASLResponse)
	if !isFinal {
		return protoErr("expected SASLResponse")
	}
	cfm := string(final.Data)
	i := strings.LastIndex(cfm, ",p=")
	if i < 0 {
		return protoErr("no proof")
	}
	withoutProof, proofB64 := cfm[:i], cfm[i+3:]
	var cbind, rnonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		if v, ok := strings.CutPrefix(attr, "c="); ok {
			cbind = v
		}
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			rnonce = v
		}
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return protoErr("bad proof")
	}
	if cbind != base64.StdEncoding.EncodeToString([]byte(gs2)) || rnonce != fullNonce {
		return protoErr("channel binding or nonce does not match")
	}
	salted, err := pbkdf2.Key(sha256.New, secret, salt, scramIterations, sha256.Size)
	if err != nil {
		return false, err
	}
	clientKey := hmacSum(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	authMessage := bare + "," + serverFirst + "," + withoutProof
	clientSig := hmacSum(storedKey[:], authMessage)
	want := make([]byte, len(clientKey))
	for i := range clientKey {
		want[i] = clientKey[i] ^ clientSig[i]
	}
	if subtle.ConstantTimeCompare(want, proof) != 1 {
		return false, nil
	}
	serverSig := hmacSum(hmacSum(salted, "Server Key"), authMessage)
	c.be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte("v=" + base64.StdEncoding.EncodeToString(serverSig))})
	return true, nil
}

func hmacSum(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
