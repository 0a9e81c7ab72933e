package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
)

// IAM's users, access keys and inline user policies map onto tarn's keys
// and policies (auth's users): a user's keys have the union of its
// policies. Only the admin key manages them, whatever a policy says: a key
// that could write policies could give itself everything.

const iamAccount = "000000000000"

func userARN(n string) string { return "arn:aws:iam::" + iamAccount + ":user/" + n }

func (s *Server) iamOps() {
	q := func(name string, fn func(ctx context.Context, c *call, f form) (*xnode, error)) {
		s.query("iam", name, func(ctx context.Context, c *call, f form) (*xnode, error) {
			if !c.p.Key.Admin {
				return nil, &awsError{"AccessDenied", http.StatusForbidden,
					fmt.Errorf("User: %s is not authorized to perform: iam:%s: tarn's IAM operations need the admin key", c.p.Key.AccessKeyID, name)}
			}
			out, err := fn(ctx, c, f)
			return out, iamErr(err)
		})
	}
	q("CreateUser", s.iamCreateUser)
	q("GetUser", s.iamGetUser)
	q("DeleteUser", s.iamDeleteUser)
	q("ListUsers", s.iamListUsers)
	q("CreateAccessKey", s.iamCreateAccessKey)
	q("ListAccessKeys", s.iamListAccessKeys)
	q("DeleteAccessKey", s.iamDeleteAccessKey)
	q("UpdateAccessKey", s.iamUpdateAccessKey)
	q("PutUserPolicy", s.iamPutUserPolicy)
	q("GetUserPolicy", s.iamGetUserPolicy)
	q("DeleteUserPolicy", s.iamDeleteUserPolicy)
	q("ListUserPolicies", s.iamListUserPolicies)
}

// iamErr gives auth's errors IAM's codes.
func iamErr(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsError
	if errors.As(err, &ae) {
		return err
	}
	code, status := "", http.StatusBadRequest
	switch {
	case errors.Is(err, auth.ErrNoSuchUser), errors.Is(err, auth.ErrNoSuchUserPolicy), errors.Is(err, auth.ErrNoSuchKey):
		code, status = "NoSuchEntity", http.StatusNotFound
	case errors.Is(err, auth.ErrUserExists):
		code, status = "EntityAlreadyExists", http.StatusConflict
	case errors.Is(err, auth.ErrUserNotEmpty):
		code, status = "DeleteConflict", http.StatusConflict
	case errors.Is(err, auth.ErrTooManyKeys):
		code, status = "LimitExceeded", http.StatusConflict
	case errors.Is(err, auth.ErrInvalidPolicy):
		code = "MalformedPolicyDocument"
	case errors.Is(err, auth.ErrInvalidUser), errors.Is(err, auth.ErrInvalidKey):
		code = "ValidationError"
	default:
		return err
	}
	return &awsError{code, status, err}
}

func userName(f form) (string, error) {
	n := f.str("UserName")
	if n == "" {
		return "", missing("UserName")
	}
	if err := auth.ValidateUserName(n); err != nil {
		return "", err
	}
	return n, nil
}

func userOut(u auth.User) *xnode {
	return x("User", xt("Path", "/"), xt("UserName", u.Name), xt("UserId", u.ID), xt("Arn", userARN(u.Name)), xtime("CreateDate", u.CreatedAt))
}

func (s *Server) iamCreateUser(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	if p := f.str("Path"); p != "" && p != "/" {
		return nil, qerr("ValidationError", "tarn keeps users at path /, not %q", truncate(p, 80))
	}
	u, err := s.d.Auth.CreateUser(ctx, n)
	if err != nil {
		return nil, err
	}
	return x("", userOut(u)), nil
}

func (s *Server) iamGetUser(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	u, err := s.d.Auth.GetUser(ctx, n)
	if err != nil {
		return nil, err
	}
	return x("", userOut(u)), nil
}

func (s *Server) iamDeleteUser(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	return nil, s.d.Auth.DeleteUser(ctx, n)
}

// marker pages an IAM listing: Marker/MaxItems/IsTruncated.
func marker(f form, n int) (int, int, *xnode, error) {
	maxItems, _, err := f.integer("MaxItems")
	if err != nil {
		return 0, 0, nil, err
	}
	if maxItems < 0 || maxItems > 1000 {
		return 0, 0, nil, qerr("ValidationError", "MaxItems must be between 1 and 1000")
	}
	lo, hi, next, err := qpage(n, f.str("Marker"), maxItems, 1000)
	if err != nil {
		return 0, 0, nil, qerr("ValidationError", "Marker %q is not one this server issued; start again without it", truncate(f.str("Marker"), 40))
	}
	tail := x("", xbool("IsTruncated", next != ""))
	if next != "" {
		tail.add(xt("Marker", next))
	}
	return lo, hi, tail, nil
}

func (s *Server) iamListUsers(ctx context.Context, c *call, f form) (*xnode, error) {
	if p := f.str("PathPrefix"); p != "" && p != "/" {
		return x("", x("Users"), xbool("IsTruncated", false)), nil
	}
	us, err := s.d.Auth.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi, tail, err := marker(f, len(us))
	if err != nil {
		return nil, err
	}
	var items []*xnode
	for _, u := range us[lo:hi] {
		items = append(items, userOut(u))
	}
	out := x("", xlist("Users", items))
	out.kids = append(out.kids, tail.kids...)
	return out, nil
}

func status(k auth.Key) string {
	if k.Inactive {
		return "Inactive"
	}
	return "Active"
}

func (s *Server) iamCreateAccessKey(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	k, err := s.d.Auth.CreateUserKey(ctx, n)
	if err != nil {
		return nil, err
	}
	return x("", x("AccessKey", xt("UserName", n), xt("AccessKeyId", k.AccessKeyID), xt("Status", "Active"),
		xt("SecretAccessKey", k.SecretAccessKey), xtime("CreateDate", k.CreatedAt))), nil
}

func (s *Server) iamListAccessKeys(ctx context.Context, c *call, f form) (*xnode, error) {
	var keys []auth.Key
	user := f.str("UserName")
	if user == "" {
		// The caller's own key, as IAM lists the caller's keys.
		keys, user = []auth.Key{c.p.Key}, c.p.Key.Name
	} else {
		var err error
		if err = auth.ValidateUserName(user); err != nil {
			return nil, err
		}
		if keys, err = s.d.Auth.UserKeys(ctx, user); err != nil {
			return nil, err
		}
	}
	lo, hi, tail, err := marker(f, len(keys))
	if err != nil {
		return nil, err
	}
	var items []*xnode
	for _, k := range keys[lo:hi] {
		items = append(items, x("member", xt("UserName", user), xt("AccessKeyId", k.AccessKeyID), xt("Status", status(k)), xtime("CreateDate", k.CreatedAt)))
	}
	out := x("", xlist("AccessKeyMetadata", items))
	out.kids = append(out.kids, tail.kids...)
	return out, nil
}

func keyParams(f form) (string, string, error) {
	n, err := userName(f)
	if err != nil {
		return "", "", err
	}
	id := f.str("AccessKeyId")
	if id == "" {
		return "", "", missing("AccessKeyId")
	}
	return n, id, nil
}

func (s *Server) iamDeleteAccessKey(ctx context.Context, c *call, f form) (*xnode, error) {
	n, id, err := keyParams(f)
	if err != nil {
		return nil, err
	}
	return nil, s.d.Auth.DeleteUserKey(ctx, n, id)
}

func (s *Server) iamUpdateAccessKey(ctx context.Context, c *call, f form) (*xnode, error) {
	n, id, err := keyParams(f)
	if err != nil {
		return nil, err
	}
	st := f.str("Status")
	if st != "Active" && st != "Inactive" {
		return nil, qerr("ValidationError", "Status must be Active or Inactive, not %q", truncate(st, 40))
	}
	return nil, s.d.Auth.SetKeyActive(ctx, n, id, st == "Active")
}

func policyName(f form) (string, error) {
	n := f.str("PolicyName")
	if n == "" {
		return "", missing("PolicyName")
	}
	if len(n) > 128 || strings.ContainsFunc(n, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@_-", r))
	}) {
		return "", qerr("ValidationError", "PolicyName %q may have 1-128 letters, digits and +=,.@_-", truncate(n, 80))
	}
	return n, nil
}

func (s *Server) iamPutUserPolicy(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	p, err := policyName(f)
	if err != nil {
		return nil, err
	}
	doc := f.str("PolicyDocument")
	if doc == "" {
		return nil, missing("PolicyDocument")
	}
	return nil, s.d.Auth.PutUserPolicy(ctx, n, p, []byte(doc))
}

func (s *Server) iamGetUserPolicy(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	p, err := policyName(f)
	if err != nil {
		return nil, err
	}
	doc, err := s.d.Auth.GetUserPolicy(ctx, n, p)
	if err != nil {
		return nil, err
	}
	// IAM answers the document URL-encoded; the SDKs decode it.
	return x("", xt("UserName", n), xt("PolicyName", p), xt("PolicyDocument", url.PathEscape(doc))), nil
}

func (s *Server) iamDeleteUserPolicy(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	p, err := policyName(f)
	if err != nil {
		return nil, err
	}
	return nil, s.d.Auth.DeleteUserPolicy(ctx, n, p)
}

func (s *Server) iamListUserPolicies(ctx context.Context, c *call, f form) (*xnode, error) {
	n, err := userName(f)
	if err != nil {
		return nil, err
	}
	names, err := s.d.Auth.UserPolicyNames(ctx, n)
	if err != nil {
		return nil, err
	}
	lo, hi, tail, err := marker(f, len(names))
	if err != nil {
		return nil, err
	}
	out := x("", xstrings("PolicyNames", names[lo:hi]))
	out.kids = append(out.kids, tail.kids...)
	return out, nil
}
