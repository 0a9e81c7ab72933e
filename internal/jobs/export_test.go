package jobs

// SetAfterWarehouseCommit installs a hook that runs between a warehouse
// load's DuckDB commit and its metadata commit (an error stands for a
// failure there; runtime.Goexit for a crash). It returns the restore func.
func SetAfterWarehouseCommit(f func(runID string) error) (restore func()) {
	old := afterWarehouseCommit
	afterWarehouseCommit = f
	return func() { afterWarehouseCommit = old }
}
