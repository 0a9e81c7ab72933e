package meta

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// RedactDSN returns a PostgreSQL URL without its password (in the user
// part or a password= parameter): what a lake home may record and what
// messages may show. A value that is not a URL is returned as "postgres"
// so that no key=value password can leak.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || !isPostgresURL(dsn) {
		return "postgres"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// SamePostgres reports whether two PostgreSQL connection strings name the
// same database: the same hosts, ports and database name (users,
// passwords and other parameters may differ between opens).
func SamePostgres(a, b string) bool {
	ca, err := pgconn.ParseConfig(a)
	if err != nil {
		return false
	}
	cb, err := pgconn.ParseConfig(b)
	if err != nil {
		return false
	}
	return endpoints(ca) == endpoints(cb) && ca.Database == cb.Database
}

func endpoints(c *pgconn.Config) string {
	hosts := []string{c.Host + ":" + strconv.Itoa(int(c.Port))}
	for _, f := range c.Fallbacks {
		hosts = append(hosts, f.Host+":"+strconv.Itoa(int(f.Port)))
	}
	return strings.Join(hosts, ",")
}
