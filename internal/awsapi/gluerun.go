package awsapi

// glueRunOps registers Glue's crawler and job operations.
func (s *Server) glueRunOps() {}
