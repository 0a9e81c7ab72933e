// Package iceberg keeps tarn's Apache Iceberg tables: their metadata files,
// snapshots and commits (through github.com/apache/iceberg-go), registered in
// tarn's catalog as Glue registers them (table_type=ICEBERG,
// metadata_location). The catalog row's metadata_location is the one pointer a
// commit swaps, in one metadata transaction, so commits from tarn and from
// other engines through the REST catalog are serialized.
//
// The pieces:
//
//   - IO is iceberg-go's file IO over tarn's object store (s3://, s3a://,
//     s3n:// URIs), optionally confined to a table's location (Within).
//   - Catalog implements iceberg-go's catalog.Catalog over tarn's catalog:
//     namespaces are databases, tables are catalog rows; CommitTable is
//     optimistic (a lost race is table.ErrCommitFailed). The REST front end
//     and the SQL layer both commit through it.
//   - ConvertToIceberg turns a Hive-style Parquet table into an Iceberg
//     table in place; OpenTable reads a row's table for readers.
//   - Health, Expire and RemoveOrphans are the maintenance figures and
//     operations (VACUUM).
//
// No policy is checked here: front ends authorize. What this package
// guarantees is that a table's files stay below its location: metadata
// naming files elsewhere is refused or not read.
package iceberg
