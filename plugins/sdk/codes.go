package sdk

import (
	"net/http"
	"slices"
)

// Code is a machine-readable error code. This file is the one list of the
// codes Loom uses: a plugin's *Error carries one, the worker stores it in the
// job unchanged, and the gateway answers it in the HTTP error body
// {"error":{"message","type","code"}} with the status below. A plugin may
// use a code of its own; it travels unchanged too and answers 500.
type Code string

// Codes a job can fail with (set by a plugin, the host, the worker or the
// queue; GET /v1/jobs/{id} shows them, sync endpoints answer them).
const (
	CodeInvalidRequest   Code = "invalid_request"   // 400: bad params or inputs (also the gateway's own checks)
	CodeModelNotFound    Code = "model_not_found"   // 404: no such model (or it does not serve the task)
	CodeModelUnavailable Code = "model_unavailable" // 503: model known, weights absent; the message says what to install
	CodeTimeout          Code = "timeout"           // 504: the job passed its deadline (running, or before a worker took it)
	CodeCanceled         Code = "canceled"          // 409: the client canceled the job
	CodeInternal         Code = "internal"          // 500: a plugin bug or an unexpected failure
	// CodePluginCrashed is set by the host, never by a plugin: the plugin
	// process died (or stopped answering) during the job. The job did not
	// fail on its merits, so the worker retries it.
	CodePluginCrashed Code = "plugin_crashed" // 500, retried
	// CodePoison is set by the worker, never by a plugin: the job crashed
	// its plugin on its last permitted attempt (worker --poison-after, or
	// its max_attempts), every earlier attempt having crashed too (or lost
	// its worker), so it fails instead of crashing the plugin again. The
	// message carries the last crash's one-line summary and error id.
	CodePoison Code = "poison" // 500, not retried
)

// Codes only the gateway answers (the request never became a job, or the
// job cannot be read).
const (
	CodeNotFound             Code = "not_found"              // 404: no such route
	CodeMethodNotAllowed     Code = "method_not_allowed"     // 405
	CodeUnsupportedMediaType Code = "unsupported_media_type" // 415: a body in a form the endpoint does not read
	CodeRequestTooLarge      Code = "request_too_large"      // 413: body over --max-body
	CodeRequestTimeout       Code = "request_timeout"        // 408: the body did not arrive within --body-timeout
	CodeInvalidAPIKey        Code = "invalid_api_key"        // 401
	CodeRateLimited          Code = "rate_limited"           // 429 with Retry-After: over --rate-limit
	CodeQueueFull            Code = "queue_full"             // 429 with Retry-After: the task's queue is at --max-depth
	CodeConcurrencyLimited   Code = "concurrency_limited"    // 429: the API key has its most jobs queued or running
	CodeQueueUnavailable     Code = "queue_unavailable"      // 503: the queue (Redis) does not answer
	CodeNoWorkers            Code = "no_workers"             // 503 (/readyz): no live worker
	CodeJobNotFound          Code = "job_not_found"          // 404: no such job (or its results expired)
	CodeJobNotReady          Code = "job_not_ready"          // 409: a job's artifact asked for before it succeeded
	CodeArtifactNotFound     Code = "artifact_not_found"     // 404: the job produced no artifact of that name
	CodeVideoNotReady        Code = "video_not_ready"        // 409: a video's content asked for before it finished
	CodeVideoNotFound        Code = "video_not_found"        // 404: no such video
	CodeContentNotFound      Code = "content_not_found"      // 404: the video was made without that variant
	CodeInvalidSignature     Code = "invalid_signature"      // 403: a /v1/files URL whose signature does not match
	CodeURLExpired           Code = "url_expired"            // 403: a /v1/files URL past its expiry
	CodeClientClosed         Code = "client_closed"          // 499: the client left before the answer (logged only)
)

// codeStatus is each code's HTTP status.
var codeStatus = map[Code]int{
	CodeInvalidRequest:   http.StatusBadRequest,
	CodeModelNotFound:    http.StatusNotFound,
	CodeModelUnavailable: http.StatusServiceUnavailable,
	CodeTimeout:          http.StatusGatewayTimeout,
	CodeCanceled:         http.StatusConflict,
	CodeInternal:         http.StatusInternalServerError,
	CodePluginCrashed:    http.StatusInternalServerError,
	CodePoison:           http.StatusInternalServerError,

	CodeNotFound:             http.StatusNotFound,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeRequestTooLarge:      http.StatusRequestEntityTooLarge,
	CodeRequestTimeout:       http.StatusRequestTimeout,
	CodeInvalidAPIKey:        http.StatusUnauthorized,
	CodeRateLimited:          http.StatusTooManyRequests,
	CodeQueueFull:            http.StatusTooManyRequests,
	CodeConcurrencyLimited:   http.StatusTooManyRequests,
	CodeQueueUnavailable:     http.StatusServiceUnavailable,
	CodeNoWorkers:            http.StatusServiceUnavailable,
	CodeJobNotFound:          http.StatusNotFound,
	CodeJobNotReady:          http.StatusConflict,
	CodeArtifactNotFound:     http.StatusNotFound,
	CodeVideoNotReady:        http.StatusConflict,
	CodeVideoNotFound:        http.StatusNotFound,
	CodeContentNotFound:      http.StatusNotFound,
	CodeInvalidSignature:     http.StatusForbidden,
	CodeURLExpired:           http.StatusForbidden,
	CodeClientClosed:         499,
}

// HTTPStatus is the status the gateway answers c with; a code not listed
// here (a plugin's own) is 500.
func (c Code) HTTPStatus() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Retryable reports whether a job that failed with c may succeed on another
// attempt, so the worker queues it again (up to the job's max_attempts).
// Only a crashed plugin is: bad requests, missing models, plugin bugs and
// deadlines fail the same way again.
func (c Code) Retryable() bool { return c == CodePluginCrashed }

// Known reports whether c is one of the codes listed in this file.
func (c Code) Known() bool { _, ok := codeStatus[c]; return ok }

// Codes lists every code of this file, sorted.
func Codes() []Code {
	out := make([]Code, 0, len(codeStatus))
	for c := range codeStatus {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
