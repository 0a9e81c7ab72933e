package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket notifications (PutBucketNotificationConfiguration) become tarn's
// event triggers: S3 has nothing to call in a lake, but the guides'
// notification exists to start a Glue job (through a Lambda function) on
// new objects, which is what an event trigger does. A destination is
// therefore named by the ARN of a Glue job, workflow or crawler
// (arn:aws:glue:REGION:ACCOUNT:job/NAME, .../workflow/NAME,
// .../crawler/NAME), whichever of TopicConfiguration, QueueConfiguration
// or CloudFunctionConfiguration carries it; SNS, SQS and Lambda ARNs are
// refused, since nothing could be delivered to them. Only
// s3:ObjectCreated:* is supported: the events ledger records every new
// object version, however it was written.

// EventTrigger is an event trigger a bucket notification stands for:
// objects created in Bucket under Prefix whose key ends with Suffix start
// exactly one of Job, Workflow and Crawler.
type EventTrigger struct {
	Name     string
	Bucket   string
	Prefix   string
	Suffix   string
	Job      string
	Workflow string
	Crawler  string
}

// Triggers keeps the event triggers of bucket notifications (the
// workflow service, adapted by the server's wiring).
type Triggers interface {
	// CreateEventTrigger creates an enabled trigger; an error says why
	// the destination cannot be used (a job that does not exist).
	CreateEventTrigger(ctx context.Context, t EventTrigger) error
	// DeleteEventTrigger removes a trigger; a missing one is not an error.
	DeleteEventTrigger(ctx context.Context, name string) error
}

// SetTriggers enables bucket notifications; without it they are
// answered NotImplemented.
func (s *Server) SetTriggers(t Triggers) { s.triggers = t }

const notificationConfig = "notification"

type notifyFilterRule struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type notifyFilter struct {
	S3Key struct {
		Rules []notifyFilterRule `xml:"FilterRule"`
	} `xml:"S3Key"`
}

// notifyEntry is one Topic, Queue or CloudFunction configuration; the
// element naming the ARN differs, so each kind has its own type.
type topicConfig struct {
	ID     string        `xml:"Id,omitempty"`
	ARN    string        `xml:"Topic"`
	Events []string      `xml:"Event"`
	Filter *notifyFilter `xml:"Filter,omitempty"`
}

type queueConfig struct {
	ID     string        `xml:"Id,omitempty"`
	ARN    string        `xml:"Queue"`
	Events []string      `xml:"Event"`
	Filter *notifyFilter `xml:"Filter,omitempty"`
}

type functionConfig struct {
	ID     string        `xml:"Id,omitempty"`
	ARN    string        `xml:"CloudFunction"`
	Events []string      `xml:"Event"`
	Filter *notifyFilter `xml:"Filter,omitempty"`
}

type notificationConfiguration struct {
	XMLName     xml.Name         `xml:"NotificationConfiguration"`
	Xmlns       string           `xml:"xmlns,attr,omitempty"`
	Topics      []topicConfig    `xml:"TopicConfiguration"`
	Queues      []queueConfig    `xml:"QueueConfiguration"`
	Functions   []functionConfig `xml:"CloudFunctionConfiguration"`
	EventBridge *struct{}        `xml:"EventBridgeConfiguration"`
	// Triggers are the names of the triggers made for this
	// configuration (kept with it, never shown).
	Triggers []string `xml:"TarnTrigger,omitempty"`
}

var (
	glueARN     = regexp.MustCompile(`^arn:aws[a-z-]*:glue:[a-z0-9-]*:[0-9]*:(job|workflow|crawler)/(.+)$`)
	notifyIDRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,180}$`)
	errNotifyTo = "Unable to validate the following destination configurations: %s"
)

// triggersOf maps a configuration to the triggers it stands for, naming
// what is wrong in S3's terms.
func (nc *notificationConfiguration) triggersOf(bucket string) ([]EventTrigger, error) {
	if nc.EventBridge != nil {
		return nil, errCode("NotImplemented", http.StatusNotImplemented, "EventBridge notifications are not supported by tarn; name a Glue job, workflow or crawler ARN in a QueueConfiguration, TopicConfiguration or CloudFunctionConfiguration")
	}
	type entry struct {
		id     *string
		arn    string
		events []string
		filter *notifyFilter
	}
	var entries []entry
	for i := range nc.Topics {
		c := &nc.Topics[i]
		entries = append(entries, entry{&c.ID, c.ARN, c.Events, c.Filter})
	}
	for i := range nc.Queues {
		c := &nc.Queues[i]
		entries = append(entries, entry{&c.ID, c.ARN, c.Events, c.Filter})
	}
	for i := range nc.Functions {
		c := &nc.Functions[i]
		entries = append(entries, entry{&c.ID, c.ARN, c.Events, c.Filter})
	}
	var out []EventTrigger
	ids := map[string]bool{}
	for i, e := range entries {
		if *e.id == "" {
			// As S3, an entry without an Id gets one (reported by Get).
			*e.id = "notification-" + strconv.Itoa(i+1)
		}
		id := *e.id
		if !notifyIDRE.MatchString(id) {
			return nil, errCode("InvalidArgument", http.StatusBadRequest, "notification Id %q: tarn takes 1-180 letters, digits, '_', '-' or '.' (it names the event trigger)", id)
		}
		if ids[id] {
			return nil, errCode("InvalidArgument", http.StatusBadRequest, "Configurations overlap. Configurations on the same bucket cannot share a common event type: Id %q is given twice", id)
		}
		ids[id] = true
		if len(e.events) == 0 {
			return nil, errMalformedXML
		}
		for _, ev := range e.events {
			if ev != "s3:ObjectCreated:*" {
				return nil, errCode("InvalidArgument", http.StatusBadRequest, "The event %q is not supported for notifications by tarn; use s3:ObjectCreated:* (every new object version)", ev)
			}
		}
		m := glueARN.FindStringSubmatch(e.arn)
		if m == nil {
			return nil, errCode("InvalidArgument", http.StatusBadRequest, errNotifyTo+
				" (tarn delivers notifications to Glue jobs, workflows and crawlers: arn:aws:glue:REGION:ACCOUNT:job/NAME)", e.arn)
		}
		t := EventTrigger{Name: "s3-" + bucket + "-" + id, Bucket: bucket}
		switch m[1] {
		case "job":
			t.Job = m[2]
		case "workflow":
			t.Workflow = m[2]
		default:
			t.Crawler = m[2]
		}
		if e.filter != nil {
			seen := map[string]bool{}
			for _, r := range e.filter.S3Key.Rules {
				name := strings.ToLower(r.Name)
				if (name != "prefix" && name != "suffix") || seen[name] {
					return nil, errCode("InvalidArgument", http.StatusBadRequest, "filter rule name must be either prefix or suffix, once each")
				}
				seen[name] = true
				if name == "prefix" {
					t.Prefix = r.Value
				} else {
					t.Suffix = r.Value
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func (c *call) putBucketNotification() error {
	if err := c.allow("s3:PutBucketNotification", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	var nc notificationConfiguration
	if err := c.readConfigBody(&nc); err != nil {
		return err
	}
	nc.Triggers = nil // only tarn writes them
	want, err := nc.triggersOf(c.bucket)
	if err != nil {
		return err
	}
	if c.s.triggers == nil && len(want) > 0 {
		return errCode("NotImplemented", http.StatusNotImplemented, "This server has no event triggers to deliver bucket notifications to")
	}
	var old notificationConfiguration
	if err := c.loadConfig(notificationConfig, &old); err != nil && !errors.Is(err, storage.ErrNoSuchBucketConfig) {
		return err
	}
	// The key must be allowed to manage every trigger it replaces or makes.
	for _, name := range old.Triggers {
		if err := c.p.Authorize("glue:DeleteTrigger", "arn:aws:glue:*:*:trigger/"+name); err != nil {
			return err
		}
	}
	for _, t := range want {
		if err := c.p.Authorize("glue:CreateTrigger", "arn:aws:glue:*:*:trigger/"+t.Name); err != nil {
			return err
		}
	}
	ctx := c.r.Context()
	for _, name := range old.Triggers {
		if err := c.s.triggers.DeleteEventTrigger(ctx, name); err != nil {
			return err
		}
	}
	for i, t := range want {
		if err := c.s.triggers.CreateEventTrigger(ctx, t); err != nil {
			// Nothing of this configuration stays: the triggers made so
			// far go, and the configuration is recorded as empty.
			for _, made := range want[:i] {
				_ = c.s.triggers.DeleteEventTrigger(context.WithoutCancel(ctx), made.Name)
			}
			_ = bc.SetBucketConfig(context.WithoutCancel(ctx), c.bucket, notificationConfig, nil)
			return errCode("InvalidArgument", http.StatusBadRequest, errNotifyTo+": %v", destinationOf(t), err)
		}
		nc.Triggers = append(nc.Triggers, t.Name)
	}
	nc.Xmlns = s3NS
	return c.storeConfig(bc, notificationConfig, nc, http.StatusOK)
}

func destinationOf(t EventTrigger) string {
	switch {
	case t.Job != "":
		return "job " + t.Job
	case t.Workflow != "":
		return "workflow " + t.Workflow
	}
	return "crawler " + t.Crawler
}

// getBucketNotification answers the configuration as it was given (with
// the Ids tarn gave the entries that had none); a bucket without one has
// an empty configuration, as in S3.
func (c *call) getBucketNotification() error {
	if err := c.allow("s3:GetBucketNotification", c.bucket, ""); err != nil {
		return err
	}
	var nc notificationConfiguration
	if err := c.loadConfig(notificationConfig, &nc); err != nil && !errors.Is(err, storage.ErrNoSuchBucketConfig) {
		return err
	}
	nc.Triggers, nc.Xmlns = nil, s3NS
	writeXML(c.w, http.StatusOK, nc)
	return nil
}

// notificationTriggers returns the triggers of a bucket's notifications,
// read before the bucket (and its configuration) is deleted.
func (s *Server) notificationTriggers(ctx context.Context, bucket string) []string {
	bc, ok := s.store.(storage.BucketConfigs)
	if !ok || s.triggers == nil {
		return nil
	}
	data, err := bc.BucketConfig(ctx, bucket, notificationConfig)
	if err != nil || len(data) == 0 {
		return nil
	}
	var nc notificationConfiguration
	if xml.Unmarshal(data, &nc) != nil {
		return nil
	}
	return nc.Triggers
}

// removeTriggers deletes the triggers of a deleted bucket's
// notifications: they would fire for a new bucket of the same name.
func (s *Server) removeTriggers(ctx context.Context, names []string) {
	for _, name := range names {
		if err := s.triggers.DeleteEventTrigger(ctx, name); err != nil {
			s.log.Warn("cannot delete the event trigger of a deleted bucket's notification; delete it with tarn trigger delete", "trigger", name, "err", fmt.Sprint(err))
		}
	}
}
