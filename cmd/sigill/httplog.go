package main

import (
	"log"
	"log/slog"
	"net/http"
)

// logHTTPErrors routes net/http's own lines (a failed TLS handshake, a
// handler's panic) into the JSON log, tagged with the service, where they
// otherwise reach standard error as bare text among the JSON lines. smtpd
// and imapd do the same for go-smtp's and go-imap's loggers.
func logHTTPErrors(srv *http.Server, logger *slog.Logger, service string) *http.Server {
	if srv != nil {
		srv.ErrorLog = httpErrorLog(logger, service)
	}
	return srv
}

func httpErrorLog(logger *slog.Logger, service string) *log.Logger {
	return slog.NewLogLogger(logger.With("service", service).Handler(), slog.LevelWarn)
}
