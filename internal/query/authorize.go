package query

import (
	"fmt"
	"strings"

	"github.com/tarn-lake/tarn/internal/auth"
	"github.com/tarn-lake/tarn/internal/storage"
)

// Authorizer turns an access key's principal into Request.Authorize, the
// one mapping every front end (REST API, pgwire) uses: Glue and warehouse
// actions on table/database ARNs, S3 actions on the table's location.
func Authorizer(p *auth.Principal) func(action string, t Target) error {
	return func(action string, t Target) error {
		var res string
		switch {
		case strings.HasPrefix(action, "s3:"):
			u, err := storage.ParseURI(t.Location)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrPermission, err)
			}
			res = auth.S3Resource(u.Bucket, u.Key)
		case t.Table != "":
			res = auth.TableResource(t.Database, t.Table)
		case t.Database != "":
			res = auth.DatabaseResource(t.Database)
		default:
			res = auth.CatalogResource
		}
		return p.Authorize(action, res)
	}
}
