package query

// SetIcebergBeforeCommit sets the hook a copy-on-write statement runs
// before it commits (nil removes it).
func SetIcebergBeforeCommit(f func(table string)) { icebergBeforeCommit = f }
