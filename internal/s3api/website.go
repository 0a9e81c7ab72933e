package s3api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tarn-lake/tarn/internal/storage"
)

// Bucket website configuration (Put/Get/DeleteBucketWebsite) is validated
// as S3 does, kept and reported, and has no effect: tarn serves no
// anonymous website endpoint (every request is signed and authorized by
// key policy), so nothing is served from it. Tools that manage a bucket's
// configuration as a whole (Terraform, deploy scripts) can round-trip it.

const websiteConfig = "website"

type wsRedirect struct {
	HostName             *string `xml:"HostName,omitempty"`
	HTTPRedirectCode     *string `xml:"HttpRedirectCode,omitempty"`
	Protocol             *string `xml:"Protocol,omitempty"`
	ReplaceKeyPrefixWith *string `xml:"ReplaceKeyPrefixWith,omitempty"`
	ReplaceKeyWith       *string `xml:"ReplaceKeyWith,omitempty"`
}

type wsCondition struct {
	HTTPErrorCodeReturnedEquals *string `xml:"HttpErrorCodeReturnedEquals,omitempty"`
	KeyPrefixEquals             *string `xml:"KeyPrefixEquals,omitempty"`
}

type wsRoutingRule struct {
	Condition *wsCondition `xml:"Condition,omitempty"`
	Redirect  *wsRedirect  `xml:"Redirect"`
}

type websiteConfiguration struct {
	XMLName               struct{} `xml:"WebsiteConfiguration"`
	Xmlns                 string   `xml:"xmlns,attr,omitempty"`
	RedirectAllRequestsTo *struct {
		HostName string  `xml:"HostName"`
		Protocol *string `xml:"Protocol,omitempty"`
	} `xml:"RedirectAllRequestsTo,omitempty"`
	IndexDocument *struct {
		Suffix string `xml:"Suffix"`
	} `xml:"IndexDocument,omitempty"`
	ErrorDocument *struct {
		Key string `xml:"Key"`
	} `xml:"ErrorDocument,omitempty"`
	RoutingRules []wsRoutingRule `xml:"RoutingRules>RoutingRule"`
}

var errWebsiteProtocol = errCode("InvalidRequest", http.StatusBadRequest, "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.")

func validProtocol(p *string) bool { return p == nil || *p == "http" || *p == "https" }

func (w *websiteConfiguration) validate() error {
	if ra := w.RedirectAllRequestsTo; ra != nil {
		if w.IndexDocument != nil || w.ErrorDocument != nil || len(w.RoutingRules) > 0 || ra.HostName == "" {
			return errMalformedXML
		}
		if !validProtocol(ra.Protocol) {
			return errWebsiteProtocol
		}
		return nil
	}
	if w.IndexDocument == nil {
		return errMalformedXML
	}
	if s := w.IndexDocument.Suffix; s == "" || strings.Contains(s, "/") {
		return errCode("InvalidArgument", http.StatusBadRequest, "The IndexDocument Suffix is not well formed")
	}
	if w.ErrorDocument != nil && w.ErrorDocument.Key == "" {
		return errCode("InvalidArgument", http.StatusBadRequest, "The ErrorDocument Key is not well formed")
	}
	if n := len(w.RoutingRules); n > 50 {
		return errCode("InvalidRequest", http.StatusBadRequest, "%d routing rules provided, the number of routing rules in a website configuration is limited to 50.", n)
	}
	for _, r := range w.RoutingRules {
		if r.Redirect == nil || *r.Redirect == (wsRedirect{}) {
			return errMalformedXML
		}
		if c := r.Condition; c != nil {
			if *c == (wsCondition{}) {
				return errMalformedXML
			}
			if c.HTTPErrorCodeReturnedEquals != nil {
				code, err := strconv.Atoi(*c.HTTPErrorCodeReturnedEquals)
				if err != nil {
					return errMalformedXML
				}
				if (code < 400 || code > 417) && (code < 500 || code > 505) {
					return errCode("InvalidRequest", http.StatusBadRequest, "The provided HTTP error code (%d) is not valid. Valid codes are 4XX or 5XX.", code)
				}
			}
		}
		rd := r.Redirect
		if !validProtocol(rd.Protocol) {
			return errWebsiteProtocol
		}
		if rd.ReplaceKeyPrefixWith != nil && rd.ReplaceKeyWith != nil {
			return errCode("InvalidRequest", http.StatusBadRequest, "You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
		}
		if rd.HTTPRedirectCode != nil {
			code, err := strconv.Atoi(*rd.HTTPRedirectCode)
			if err != nil {
				return errMalformedXML
			}
			if code < 301 || code > 308 || code == 306 {
				return errCode("InvalidRequest", http.StatusBadRequest, "The provided HTTP redirect code (%d) is not valid. Valid codes are 3XX except 300.", code)
			}
		}
	}
	return nil
}

func (c *call) putBucketWebsite() error {
	if err := c.allow("s3:PutBucketWebsite", c.bucket, ""); err != nil {
		return err
	}
	bc, err := c.s.bucketConfigs()
	if err != nil {
		return err
	}
	if _, err := c.s.store.HeadBucket(c.r.Context(), c.bucket); err != nil {
		return err
	}
	var cfg websiteConfiguration
	if err := c.readConfigBody(&cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Xmlns = s3NS
	return c.storeConfig(bc, websiteConfig, cfg, http.StatusOK)
}

func (c *call) getBucketWebsite() error {
	if err := c.allow("s3:GetBucketWebsite", c.bucket, ""); err != nil {
		return err
	}
	var cfg websiteConfiguration
	if err := c.loadConfig(websiteConfig, &cfg); err != nil {
		if errors.Is(err, storage.ErrNoSuchBucketConfig) {
			return errCode("NoSuchWebsiteConfiguration", http.StatusNotFound, "The specified bucket does not have a website configuration")
		}
		return err
	}
	cfg.Xmlns = s3NS
	writeXML(c.w, http.StatusOK, cfg)
	return nil
}

func (c *call) deleteBucketWebsite() error {
	return c.deleteConfig("s3:DeleteBucketWebsite", websiteConfig)
}
