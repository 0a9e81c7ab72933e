package apitypes

import (
	"encoding/json"
	"time"
)

// LineageEvent is an OpenLineage RunEvent (https://openlineage.io/spec),
// the body of POST /api/v1/lineage as OpenLineage clients send it and the
// events GET /api/v1/lineage answers. EventTime is ISO 8601 text.
type LineageEvent struct {
	EventType string           `json:"eventType,omitempty"`
	EventTime string           `json:"eventTime"`
	Producer  string           `json:"producer,omitempty"`
	SchemaURL string           `json:"schemaURL,omitempty"`
	Run       LineageRun       `json:"run"`
	Job       LineageJob       `json:"job"`
	Inputs    []LineageDataset `json:"inputs,omitempty"`
	Outputs   []LineageDataset `json:"outputs,omitempty"`
}

// LineageRun is a RunEvent's run.
type LineageRun struct {
	RunID  string                     `json:"runId"`
	Facets map[string]json.RawMessage `json:"facets,omitempty"`
}

// LineageJob is a RunEvent's job.
type LineageJob struct {
	Namespace string                     `json:"namespace"`
	Name      string                     `json:"name"`
	Facets    map[string]json.RawMessage `json:"facets,omitempty"`
}

// LineageDataset is an input or output dataset of a RunEvent.
type LineageDataset struct {
	Namespace    string                     `json:"namespace"`
	Name         string                     `json:"name"`
	Facets       map[string]json.RawMessage `json:"facets,omitempty"`
	InputFacets  map[string]json.RawMessage `json:"inputFacets,omitempty"`
	OutputFacets map[string]json.RawMessage `json:"outputFacets,omitempty"`
}

// LineageRecorded answers POST /api/v1/lineage.
type LineageRecorded struct {
	RunID     string `json:"runId"`
	EventType string `json:"eventType"`
}

// DatasetRef names a dataset: an OpenLineage namespace and name. Catalog
// tables are namespace "tarn://lake", name "db.table".
type DatasetRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// LineageWrite is a completed write of a dataset (rows -1: not reported).
type LineageWrite struct {
	JobNamespace string    `json:"job_namespace"`
	JobName      string    `json:"job_name"`
	JobType      string    `json:"job_type,omitempty"`
	RunID        string    `json:"run_id"`
	EventTime    time.Time `json:"event_time"`
	Rows         int64     `json:"rows"`
}

// LineageNode is a dataset of a lineage graph. Depth is its distance from
// the root: negative upstream, positive downstream. A dataset the key may
// not read is hidden: its name is a placeholder and the graph does not go
// past it.
type LineageNode struct {
	Dataset DatasetRef    `json:"dataset"`
	Depth   int           `json:"depth"`
	Hidden  bool          `json:"hidden,omitempty"`
	Write   *LineageWrite `json:"write,omitempty"`
}

// LineageEdge is input → output, written by a job in its latest run that
// recorded the edge.
type LineageEdge struct {
	Input        DatasetRef `json:"input"`
	Output       DatasetRef `json:"output"`
	JobNamespace string     `json:"job_namespace"`
	JobName      string     `json:"job_name"`
	RunID        string     `json:"run_id"`
	EventTime    time.Time  `json:"event_time"`
	Rows         int64      `json:"rows"`
}

// LineageGraph answers GET /api/v1/lineage.
type LineageGraph struct {
	Root      DatasetRef     `json:"root"`
	Direction string         `json:"direction"`
	Depth     int            `json:"depth"`
	Nodes     []LineageNode  `json:"nodes"`
	Edges     []LineageEdge  `json:"edges"`
	Events    []LineageEvent `json:"events,omitempty"`
	Truncated bool           `json:"truncated,omitempty"`
}
