// Package iceberg keeps tarn's Apache Iceberg tables: their metadata files,
// snapshots and commits (through github.com/apache/iceberg-go), registered in
// tarn's catalog as Glue registers them (table_type=ICEBERG,
// metadata_location). The catalog row's metadata_location is the one pointer a
// commit swaps, in one metadata transaction, so commits from tarn and from
// other engines through the REST catalog are serialized.
package iceberg
