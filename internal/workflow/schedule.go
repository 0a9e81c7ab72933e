package workflow

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on machines without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// Schedule is a parsed schedule expression: when a trigger fires.
type Schedule struct {
	expr string
	loc  *time.Location
	// cron schedules
	cron  cron.Schedule
	years func(int) bool // AWS cron's sixth field; nil: every year
	// rate schedules fire every period from their anchor
	period time.Duration
}

// String is the expression as written.
func (s *Schedule) String() string { return s.expr }

// ErrInvalidSchedule wraps every schedule parsing error.
var ErrInvalidSchedule = errors.New("invalid schedule")

var (
	awsCronRE = regexp.MustCompile(`^cron\((.*)\)$`)
	awsRateRE = regexp.MustCompile(`^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$`)
)

// ParseSchedule parses a standard 5-field cron expression ("0 6 * * *"), an
// AWS cron expression ("cron(0 6 * * ? *)": minutes, hours, day of month,
// month, day of week 1-7 = SUN-SAT, year) or an AWS rate expression
// ("rate(1 hour)"), evaluated in the time zone tz ("" is UTC).
func ParseSchedule(expr, tz string) (*Schedule, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidSchedule, expr, fmt.Sprintf(format, args...))
	}
	s := &Schedule{expr: expr, loc: time.UTC}
	if tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("%w: unknown time zone %q (use an IANA name such as Europe/Paris)", ErrInvalidSchedule, tz)
		}
		s.loc = loc
	}
	e := strings.TrimSpace(expr)
	if m := awsRateRE.FindStringSubmatch(e); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n <= 0 {
			return nil, bad("the rate must be a positive whole number")
		}
		unit := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}[m[2]]
		if (n == 1) != !strings.HasSuffix(m[2], "s") {
			return nil, bad("write rate(1 %s) or rate(%d %ss), as AWS does", strings.TrimSuffix(m[2], "s"), max(n, 2), strings.TrimSuffix(m[2], "s"))
		}
		s.period = time.Duration(n) * unit
		return s, nil
	}
	if strings.HasPrefix(e, "rate(") {
		return nil, bad("a rate is rate(N minutes|hours|days)")
	}
	fields := strings.Fields(e)
	if m := awsCronRE.FindStringSubmatch(e); m != nil {
		fields = strings.Fields(m[1])
		if len(fields) != 6 {
			return nil, bad("an AWS cron expression has 6 fields: minutes hours day-of-month month day-of-week year, e.g. cron(0 6 * * ? *)")
		}
		dom, dow := fields[2], fields[4]
		if (dom == "?") == (dow == "?") {
			return nil, bad("AWS cron needs '?' in exactly one of day-of-month and day-of-week")
		}
		for _, f := range fields {
			for _, part := range strings.Split(f, ",") {
				if specialRE.MatchString(strings.ToUpper(part)) {
					return nil, bad("the L, W and # forms (%q) are not supported; list the days instead", part)
				}
			}
		}
		if dom == "?" {
			fields[2] = "*"
		}
		if dow == "?" {
			fields[4] = "*"
		} else {
			d, err := awsDayOfWeek(dow)
			if err != nil {
				return nil, bad("day-of-week: %v", err)
			}
			fields[4] = d
		}
		years, err := yearMatcher(fields[5])
		if err != nil {
			return nil, bad("year: %v", err)
		}
		s.years = years
		fields = fields[:5]
	} else if strings.HasPrefix(e, "cron(") {
		return nil, bad("an AWS cron expression is cron(minutes hours day-of-month month day-of-week year)")
	} else if len(fields) != 5 {
		return nil, bad("use 5 cron fields (minute hour day-of-month month day-of-week, e.g. \"0 6 * * *\"), cron(...) or rate(...)")
	}
	c, err := cron.ParseStandard(strings.Join(fields, " "))
	if err != nil {
		return nil, bad("%v", err)
	}
	s.cron = c
	return s, nil
}

// awsDayOfWeek turns AWS's 1-7 (SUN-SAT) into cron's 0-6; names stay and
// steps ("/2") are not days.
func awsDayOfWeek(f string) (string, error) {
	var err error
	parts := strings.Split(f, ",")
	for i, part := range parts {
		head, step, hasStep := strings.Cut(part, "/")
		head = dayNumRE.ReplaceAllStringFunc(head, func(d string) string {
			n, _ := strconv.Atoi(d)
			if n < 1 || n > 7 {
				err = fmt.Errorf("%d is not a day (1-7 = SUN-SAT)", n)
				return d
			}
			return strconv.Itoa(n - 1)
		})
		if hasStep {
			head += "/" + step
		}
		parts[i] = head
	}
	return strings.Join(parts, ","), err
}

var specialRE = regexp.MustCompile(`^(L|LW|\d+L|\d*W|.*#.*)$`)

var dayNumRE = regexp.MustCompile(`\d+`)

// yearMatcher parses AWS cron's year field: *, a year, a range, a list.
func yearMatcher(f string) (func(int) bool, error) {
	if f == "*" {
		return nil, nil
	}
	type span struct{ lo, hi, step int }
	var spans []span
	for _, part := range strings.Split(f, ",") {
		step := 1
		if i := strings.IndexByte(part, '/'); i >= 0 {
			n, err := strconv.Atoi(part[i+1:])
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("bad step in %q", part)
			}
			step, part = n, part[:i]
		}
		lo, hi := 1970, 2199
		if part != "*" {
			a, b, isRange := strings.Cut(part, "-")
			var err1, err2 error
			lo, err1 = strconv.Atoi(a)
			hi = lo
			if isRange {
				hi, err2 = strconv.Atoi(b)
			}
			if err1 != nil || err2 != nil || lo < 1970 || hi > 2199 || lo > hi {
				return nil, fmt.Errorf("%q is not a year, range or list of years in 1970-2199", part)
			}
		}
		spans = append(spans, span{lo, hi, step})
	}
	return func(y int) bool {
		for _, s := range spans {
			if y >= s.lo && y <= s.hi && (y-s.lo)%s.step == 0 {
				return true
			}
		}
		return false
	}, nil
}

// Next returns the first firing time strictly after t. Rate schedules count
// periods from anchor (when the trigger was created). The zero time means
// never again.
func (s *Schedule) Next(t, anchor time.Time) time.Time {
	if s.period > 0 {
		if t.Before(anchor) {
			return anchor
		}
		n := t.Sub(anchor)/s.period + 1
		return anchor.Add(n * s.period)
	}
	next := s.cron.Next(t.In(s.loc))
	for i := 0; s.years != nil && !next.IsZero() && !s.years(next.Year()) && i < 1000; i++ {
		if next.Year() > 2199 {
			return time.Time{}
		}
		// Jump to the start of the next year and look again.
		next = s.cron.Next(time.Date(next.Year()+1, 1, 1, 0, 0, 0, 0, s.loc).Add(-time.Nanosecond))
	}
	if s.years != nil && !next.IsZero() && !s.years(next.Year()) {
		return time.Time{}
	}
	return next.UTC()
}

// LastDue returns the latest firing time in (after, now], or the zero time
// if none is due: a scheduler that was down fires once for what it missed,
// not once per missed time.
func (s *Schedule) LastDue(after, now, anchor time.Time) time.Time {
	var last time.Time
	next := s.Next(after, anchor)
	if s.period > 0 {
		if next.IsZero() || next.After(now) {
			return time.Time{}
		}
		n := now.Sub(anchor) / s.period
		return anchor.Add(n * s.period)
	}
	for i := 0; !next.IsZero() && !next.After(now); i++ {
		last = next
		if i == 100000 && next.Before(now.Add(-24*time.Hour)) {
			// Very long downtime of a frequent schedule: only the latest
			// time matters, so skip to the last day.
			next = s.Next(now.Add(-24*time.Hour), anchor)
			continue
		}
		next = s.Next(next, anchor)
	}
	return last
}
