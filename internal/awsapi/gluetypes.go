package awsapi

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tarn-lake/tarn/internal/catalog"
)

// Glue's wire shapes (the members tarn maps; others are ignored on input).

type glueColumn struct {
	Name       string            `json:"Name"`
	Type       string            `json:"Type,omitempty"`
	Comment    string            `json:"Comment,omitempty"`
	Parameters map[string]string `json:"Parameters,omitempty"`
}

type serdeInfo struct {
	Name                 string            `json:"Name,omitempty"`
	SerializationLibrary string            `json:"SerializationLibrary,omitempty"`
	Parameters           map[string]string `json:"Parameters,omitempty"`
}

type sortColumn struct {
	Column    string `json:"Column"`
	SortOrder int    `json:"SortOrder"`
}

type storageDescriptor struct {
	Columns                []glueColumn      `json:"Columns,omitempty"`
	Location               string            `json:"Location,omitempty"`
	InputFormat            string            `json:"InputFormat,omitempty"`
	OutputFormat           string            `json:"OutputFormat,omitempty"`
	Compressed             bool              `json:"Compressed"`
	NumberOfBuckets        int               `json:"NumberOfBuckets"`
	SerdeInfo              *serdeInfo        `json:"SerdeInfo,omitempty"`
	BucketColumns          []string          `json:"BucketColumns,omitempty"`
	SortColumns            []sortColumn      `json:"SortColumns,omitempty"`
	Parameters             map[string]string `json:"Parameters,omitempty"`
	StoredAsSubDirectories bool              `json:"StoredAsSubDirectories"`
}

type tableInput struct {
	Name              string             `json:"Name"`
	Description       string             `json:"Description,omitempty"`
	Owner             string             `json:"Owner,omitempty"`
	Retention         int                `json:"Retention"`
	StorageDescriptor *storageDescriptor `json:"StorageDescriptor,omitempty"`
	PartitionKeys     []glueColumn       `json:"PartitionKeys,omitempty"`
	ViewOriginalText  string             `json:"ViewOriginalText,omitempty"`
	ViewExpandedText  string             `json:"ViewExpandedText,omitempty"`
	TableType         string             `json:"TableType,omitempty"`
	Parameters        map[string]string  `json:"Parameters,omitempty"`
}

type glueTable struct {
	tableInput
	// PartitionKeys is always there, [] for a table without (as Glue
	// answers: dbt-athena's swap of an ha table copies it).
	PartitionKeys                 []glueColumn `json:"PartitionKeys"`
	DatabaseName                  string       `json:"DatabaseName"`
	CatalogID                     string       `json:"CatalogId"`
	CreateTime                    float64      `json:"CreateTime"`
	UpdateTime                    float64      `json:"UpdateTime"`
	VersionID                     string       `json:"VersionId"`
	IsRegisteredWithLakeFormation bool         `json:"IsRegisteredWithLakeFormation"`
}

type partitionInput struct {
	Values            []string           `json:"Values"`
	StorageDescriptor *storageDescriptor `json:"StorageDescriptor,omitempty"`
	Parameters        map[string]string  `json:"Parameters,omitempty"`
}

type gluePartition struct {
	Values            []string           `json:"Values"`
	DatabaseName      string             `json:"DatabaseName"`
	TableName         string             `json:"TableName"`
	CatalogID         string             `json:"CatalogId"`
	CreationTime      float64            `json:"CreationTime"`
	LastAccessTime    float64            `json:"LastAccessTime,omitempty"`
	StorageDescriptor *storageDescriptor `json:"StorageDescriptor"`
	Parameters        map[string]string  `json:"Parameters"`
}

// catalogID is the account id tarn answers with: one local catalog.
const catalogID = "000000000000"

// epoch is Glue and Athena's JSON timestamp: seconds since 1970, fractional.
func epoch(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Glue members that have no place in tarn's catalog are kept in table
// properties under this prefix, so that GetTable answers exactly what
// CreateTable was given; they never reach Glue's Parameters.
const (
	propExtra = "tarn.glue.extra" // JSON of glueExtra
)

// glueExtra is what a table's catalog entry cannot hold itself.
type glueExtra struct {
	Owner            string            `json:"owner,omitempty"`
	Retention        int               `json:"retention,omitempty"`
	ViewOriginalText string            `json:"view_original,omitempty"`
	ViewExpandedText string            `json:"view_expanded,omitempty"`
	InputFormat      string            `json:"input_format,omitempty"`
	OutputFormat     string            `json:"output_format,omitempty"`
	Compressed       bool              `json:"compressed,omitempty"`
	NumberOfBuckets  int               `json:"buckets,omitempty"`
	Serde            *serdeInfo        `json:"serde,omitempty"`
	BucketColumns    []string          `json:"bucket_columns,omitempty"`
	SortColumns      []sortColumn      `json:"sort_columns,omitempty"`
	SDParameters     map[string]string `json:"sd_parameters,omitempty"`
	SubDirectories   bool              `json:"subdirectories,omitempty"`
	// Types are the column types as the client spelt them, by column name,
	// where the catalog's canonical spelling differs ("BIGINT").
	Types map[string]string `json:"types,omitempty"`
	// ColumnParameters by column name.
	ColumnParameters map[string]map[string]string `json:"column_parameters,omitempty"`
	// Format is the catalog format this was written with: if the table's
	// format changed since (a crawler re-classified it), the stored SerDe
	// no longer describes it and is not answered.
	Format string `json:"format,omitempty"`
}

// Hive's classes for the formats tarn reads, answered for tables that
// were not created through Glue (crawled, or created with DDL).
var formatClasses = map[string][3]string{
	catalog.FormatCSV: {"org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
		"org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
	catalog.FormatJSON: {"org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
		"org.openx.data.jsonserde.JsonSerDe"},
	catalog.FormatParquet: {"org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
		"org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}

// formatOf decides the catalog format of a Glue table from what a client
// says about it, as Athena does: the SerDe first, then the input format,
// then the classification parameter.
func formatOf(in tableInput) (string, error) {
	sd := in.StorageDescriptor
	var lib, inf string
	if sd != nil {
		inf = strings.ToLower(sd.InputFormat)
		if sd.SerdeInfo != nil {
			lib = strings.ToLower(sd.SerdeInfo.SerializationLibrary)
		}
	}
	class := strings.ToLower(in.Parameters[catalog.PropertyClassification])
	if class == "" && sd != nil {
		class = strings.ToLower(sd.Parameters[catalog.PropertyClassification])
	}
	switch {
	case strings.Contains(lib, "parquet") || strings.Contains(inf, "parquet"):
		return catalog.FormatParquet, nil
	case strings.Contains(lib, "json"):
		return catalog.FormatJSON, nil
	case strings.Contains(lib, "csv") || strings.Contains(lib, "lazysimpleserde") || strings.Contains(lib, "regex"):
		return catalog.FormatCSV, nil
	case strings.Contains(lib, "orc") || strings.Contains(inf, "orc") || strings.Contains(lib, "avro") || strings.Contains(inf, "avro"):
		return "", invalidInput("tarn reads csv, json and parquet tables; SerDe %q / InputFormat %q is not one of them (convert the data to parquet with a job)", lib, inf)
	}
	switch class {
	case catalog.FormatCSV, catalog.FormatJSON, catalog.FormatParquet:
		return class, nil
	case "tsv":
		return catalog.FormatCSV, nil
	}
	if strings.Contains(inf, "textinputformat") {
		return catalog.FormatCSV, nil
	}
	if strings.EqualFold(in.TableType, catalog.TableTypeVirtualView) {
		return "", nil
	}
	if class != "" {
		return "", invalidInput("table %q: classification %q is not csv, json or parquet, the formats tarn reads", in.Name, class)
	}
	return "", invalidInput("table %q: say its format with StorageDescriptor.SerdeInfo.SerializationLibrary (e.g. org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe), InputFormat or Parameters.classification (csv, json, parquet)", in.Name)
}

// toTable maps a Glue TableInput onto a catalog table.
func toTable(db string, in tableInput) (catalog.Table, error) {
	if err := required("TableInput.Name", in.Name); err != nil {
		return catalog.Table{}, err
	}
	format, err := formatOf(in)
	if err != nil {
		return catalog.Table{}, err
	}
	t := catalog.Table{Database: db, Name: in.Name, Description: in.Description, Format: format, TableType: in.TableType,
		Properties: map[string]string{}, FormatOptions: map[string]string{}}
	if t.TableType == "" {
		t.TableType = catalog.TableTypeExternal
	}
	for k, v := range in.Parameters {
		if strings.HasPrefix(k, "tarn.glue.") {
			return catalog.Table{}, invalidInput("table %q: parameter %q: names starting with tarn.glue. are tarn's own", in.Name, k)
		}
		if k == catalog.PropertyManifest {
			// Whether tarn lists a table's files is tarn's to say (a
			// client copies GetTable's Parameters back): updateTable keeps
			// it for a table that stays where tarn wrote it.
			continue
		}
		t.Properties[k] = v
	}
	x := glueExtra{Owner: in.Owner, Retention: in.Retention, ViewOriginalText: in.ViewOriginalText, ViewExpandedText: in.ViewExpandedText,
		Format: format, Types: map[string]string{}, ColumnParameters: map[string]map[string]string{}}
	cols := func(gc []glueColumn, what string) ([]catalog.Column, error) {
		out := make([]catalog.Column, len(gc))
		for i, c := range gc {
			if c.Name == "" {
				return nil, invalidInput("table %q: %s %d has no Name", in.Name, what, i+1)
			}
			typ := c.Type
			if typ == "" {
				typ = "string"
			}
			canon, err := catalog.CanonicalType(typ)
			if err != nil {
				return nil, invalidInput("table %q: %s %q: %v", in.Name, what, c.Name, err)
			}
			if canon != c.Type {
				x.Types[c.Name] = c.Type
			}
			if len(c.Parameters) > 0 {
				x.ColumnParameters[c.Name] = c.Parameters
			}
			out[i] = catalog.Column{Name: c.Name, Type: canon, Comment: c.Comment}
		}
		return out, nil
	}
	if sd := in.StorageDescriptor; sd != nil {
		if t.Columns, err = cols(sd.Columns, "column"); err != nil {
			return catalog.Table{}, err
		}
		t.Location = sd.Location
		x.InputFormat, x.OutputFormat, x.Compressed, x.NumberOfBuckets = sd.InputFormat, sd.OutputFormat, sd.Compressed, sd.NumberOfBuckets
		x.Serde, x.BucketColumns, x.SortColumns, x.SDParameters, x.SubDirectories = sd.SerdeInfo, sd.BucketColumns, sd.SortColumns, sd.Parameters, sd.StoredAsSubDirectories
		formatOptions(t.FormatOptions, sd, in.Parameters)
	}
	if t.PartitionKeys, err = cols(in.PartitionKeys, "partition key"); err != nil {
		return catalog.Table{}, err
	}
	b, _ := json.Marshal(x)
	t.Properties[propExtra] = string(b)
	return t, nil
}

// formatOptions reads the Hive SerDe and table parameters that tell how to
// read text files into the catalog's format options.
func formatOptions(opts map[string]string, sd *storageDescriptor, params map[string]string) {
	get := func(keys ...string) string {
		for _, k := range keys {
			if sd.SerdeInfo != nil {
				if v, ok := sd.SerdeInfo.Parameters[k]; ok {
					return v
				}
			}
			if v, ok := sd.Parameters[k]; ok {
				return v
			}
			if v, ok := params[k]; ok {
				return v
			}
		}
		return ""
	}
	if v := get("field.delim", "separatorChar"); v != "" {
		opts[catalog.OptDelimiter] = v
	}
	if v := get("quoteChar"); v != "" {
		opts[catalog.OptQuote] = v
	}
	if v := get("escapeChar", "escape.delim"); v != "" {
		opts[catalog.OptEscape] = v
	}
	if v := get("serialization.null.format"); v != "" {
		opts[catalog.OptNullString] = v
	}
	if v := get("skip.header.line.count"); v != "" && v != "0" {
		opts[catalog.OptHeader] = "true"
	}
	if v := strings.ToLower(get("compressionType", "parquet.compression")); v != "" {
		opts[catalog.OptCompression] = v
	}
}

// extraOf returns the Glue members stored with a table.
func extraOf(t catalog.Table) (glueExtra, bool) {
	raw, ok := t.Properties[propExtra]
	if !ok {
		return glueExtra{}, false
	}
	var x glueExtra
	if json.Unmarshal([]byte(raw), &x) != nil {
		return glueExtra{}, false
	}
	return x, true
}

// fromTable maps a catalog table onto Glue's Table.
func fromTable(t catalog.Table) glueTable {
	x, ok := extraOf(t)
	params := map[string]string{}
	for k, v := range t.Properties {
		if !strings.HasPrefix(k, "tarn.glue.") {
			params[k] = v
		}
	}
	cols := func(cs []catalog.Column) []glueColumn {
		out := make([]glueColumn, len(cs))
		for i, c := range cs {
			typ := c.Type
			// The client's spelling, while it still means the column's type.
			if orig, ok := x.Types[c.Name]; ok {
				if canon, err := catalog.CanonicalType(orig); err == nil && canon == c.Type {
					typ = orig
				}
			}
			out[i] = glueColumn{Name: c.Name, Type: typ, Comment: c.Comment, Parameters: x.ColumnParameters[c.Name]}
		}
		return out
	}
	sd := &storageDescriptor{Columns: cols(t.Columns), Location: t.Location}
	if ok && x.Format == t.Format {
		sd.InputFormat, sd.OutputFormat, sd.Compressed, sd.NumberOfBuckets = x.InputFormat, x.OutputFormat, x.Compressed, x.NumberOfBuckets
		sd.SerdeInfo, sd.BucketColumns, sd.SortColumns, sd.Parameters, sd.StoredAsSubDirectories = x.Serde, x.BucketColumns, x.SortColumns, x.SDParameters, x.SubDirectories
	} else if c, known := formatClasses[t.Format]; known {
		sd.InputFormat, sd.OutputFormat = c[0], c[1]
		sd.SerdeInfo = &serdeInfo{SerializationLibrary: c[2], Parameters: map[string]string{}}
		if d := t.FormatOptions[catalog.OptDelimiter]; d != "" {
			sd.SerdeInfo.Parameters["field.delim"] = d
		} else if t.Format == catalog.FormatCSV {
			sd.SerdeInfo.Parameters["field.delim"] = ","
		}
		sd.Parameters = map[string]string{catalog.PropertyClassification: t.Format}
		if t.FormatOptions[catalog.OptHeader] == "true" {
			sd.Parameters["skip.header.line.count"] = "1"
		}
		if _, set := params[catalog.PropertyClassification]; !set {
			params[catalog.PropertyClassification] = t.Format
		}
	}
	if sd.Columns == nil {
		sd.Columns = []glueColumn{}
	}
	pk := cols(t.PartitionKeys)
	return glueTable{
		tableInput: tableInput{Name: t.Name, Description: t.Description, Owner: x.Owner, Retention: x.Retention, StorageDescriptor: sd,
			PartitionKeys: pk, ViewOriginalText: x.ViewOriginalText, ViewExpandedText: x.ViewExpandedText, TableType: t.TableType, Parameters: params},
		PartitionKeys: pk, DatabaseName: t.Database, CatalogID: catalogID, CreateTime: epoch(t.CreatedAt), UpdateTime: epoch(t.UpdatedAt),
		VersionID: itoa(t.Version),
	}
}

// fromPartition answers a partition: the table's storage descriptor with
// the partition's location.
func fromPartition(t catalog.Table, gt glueTable, p catalog.Partition) gluePartition {
	sd := *gt.StorageDescriptor
	sd.Location = p.Location
	return gluePartition{Values: p.Values, DatabaseName: t.Database, TableName: t.Name, CatalogID: catalogID,
		CreationTime: epoch(p.AddedAt), StorageDescriptor: &sd, Parameters: map[string]string{}}
}
