package awsapi

import (
	"context"
)

// STS's GetCallerIdentity, which SDK users (dbt-athena among them: it
// builds Glue CatalogIds from the account) call to learn who they are. As
// in AWS it needs no permission: it tells a key only about itself.

func (s *Server) stsOps() {
	s.query("sts", "GetCallerIdentity", s.stsGetCallerIdentity)
}

// stsGetCallerIdentity answers the key's account (tarn's one account,
// 000000000000, as in IAM's ARNs), its IAM user's ARN (a tarn key that
// belongs to no IAM user is named as a user of its own name) and, as
// UserId, the access key id.
func (s *Server) stsGetCallerIdentity(_ context.Context, c *call, _ form) (*xnode, error) {
	user := c.p.Key.User
	if user == "" {
		user = c.p.Key.Name
	}
	return x("", xt("Arn", userARN(user)), xt("UserId", c.p.Key.AccessKeyID), xt("Account", iamAccount)), nil
}
