package staffweb

import "net/http"

func (s *Server) accountRoutes(mux *http.ServeMux) {}
