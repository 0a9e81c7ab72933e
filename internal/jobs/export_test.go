package jobs

// SetAfterWarehouseCommit installs a hook that runs between a warehouse
// load's DuckDB commit and its metadata commit (an error stands for a
// failure there; runtime.Goexit for a crash). It returns the restore func.
func SetAfterWarehouseCommit(f func(runID string) error) (restore func()) {
	old := afterWarehouseCommit
	afterWarehouseCommit = f
	return func() { afterWarehouseCommit = old }
}

// SetBeforeIcebergCommit installs a hook that runs after an Iceberg job's
// data files are written and before its commit. It returns the restore func.
func SetBeforeIcebergCommit(f func(runID string)) (restore func()) {
	old := beforeIcebergCommit
	beforeIcebergCommit = f
	return func() { beforeIcebergCommit = old }
}
