package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// APIError is the one typed error handlers return (through c.Error): the
// error middleware turns it into the status code and the OpenAI-shaped body
// {"error":{"message","type","code"}}.
type APIError struct {
	Status     int
	Type       string   // OpenAI error type: invalid_request_error, authentication_error, …
	Code       sdk.Code // machine-readable (plugins/sdk/codes.go lists them)
	Message    string
	RetryAfter time.Duration // > 0: sent as Retry-After (429, 503)
	Param      string        // the request field at fault; "" takes it from Message (paramOf)
}

func (e *APIError) Error() string { return string(e.Code) + ": " + e.Message }

// apiErrorf builds an *APIError whose Type follows from the status.
func apiErrorf(status int, code sdk.Code, format string, args ...any) *APIError {
	return &APIError{Status: status, Type: typeForStatus(status), Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *APIError {
	return apiErrorf(http.StatusBadRequest, sdk.CodeInvalidRequest, format, args...)
}

func typeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// fromJobError maps a failed job's error to the HTTP error the client sees:
// its code unchanged, with the status codes.go gives it.
func fromJobError(je *queue.JobError) *APIError {
	code := je.Code
	if code == "" {
		code = sdk.CodeInternal
	}
	status := code.HTTPStatus()
	return &APIError{Status: status, Type: typeForStatus(status), Code: code, Message: je.Message, Param: je.Param}
}

// toAPIError maps any error a handler returned to the error the client sees.
func toAPIError(err error) *APIError {
	var ae *APIError
	var full *queue.FullError
	var limit *queue.LimitError
	var je *queue.JobError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &full):
		e := apiErrorf(http.StatusTooManyRequests, sdk.CodeQueueFull, "%s", full.Error())
		e.RetryAfter = full.RetryAfter
		return e
	case errors.Is(err, queue.ErrQueueFull):
		e := apiErrorf(http.StatusTooManyRequests, sdk.CodeQueueFull, "queue full")
		e.RetryAfter = time.Second
		return e
	case errors.As(err, &limit):
		e := apiErrorf(http.StatusTooManyRequests, sdk.CodeConcurrencyLimited, "%s", limit.Error())
		e.RetryAfter = limit.RetryAfter
		return e
	case errors.Is(err, queue.ErrUnavailable):
		// Redis is down or restarting: the request may succeed shortly.
		e := apiErrorf(http.StatusServiceUnavailable, sdk.CodeQueueUnavailable, "the job queue is unreachable; retry shortly")
		e.RetryAfter = queueRetryAfter
		return e
	case errors.As(err, &je):
		return fromJobError(je)
	case errors.Is(err, queue.ErrNotFound):
		return apiErrorf(http.StatusNotFound, sdk.CodeJobNotFound, "no such job")
	case errors.As(err, &mbe):
		return apiErrorf(http.StatusRequestEntityTooLarge, sdk.CodeRequestTooLarge, "request body larger than %d bytes", mbe.Limit)
	case errors.Is(err, context.Canceled):
		// The client went away mid-wait; nobody reads this answer, and it
		// is not a server fault worth logging.
		return apiErrorf(499, sdk.CodeClientClosed, "client closed the request")
	case errors.Is(err, context.DeadlineExceeded):
		return apiErrorf(http.StatusGatewayTimeout, sdk.CodeTimeout, "%v", err)
	default:
		// Internal details (Redis addresses, stack context) stay in the log.
		return apiErrorf(http.StatusInternalServerError, sdk.CodeInternal, "internal error")
	}
}

// queueRetryAfter is the Retry-After of a 503 queue_unavailable: long
// enough for a restarting Redis, short enough not to lose a client.
const queueRetryAfter = 2 * time.Second

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string   `json:"message"`
	Type    string   `json:"type"`
	Code    sdk.Code `json:"code"`
	Param   *string  `json:"param"` // the request field at fault, as OpenAI's SDKs read it (err.param); null when none
}

func (e *APIError) body() errorBody {
	d := errorDetail{Message: e.Message, Type: e.Type, Code: e.Code}
	switch {
	case e.Status < 400 || e.Status >= 500:
	case e.Param != "":
		d.Param = &e.Param
	default:
		d.Param = paramOf(e.Message)
	}
	return errorBody{Error: d}
}

// fieldPrefix is the convention every 4xx message keeps, from the gateway and
// the plugins alike: it starts with the request field at fault, then ": " —
// "seconds: …", "messages[2].content: …", "input_audio.format: …".
var fieldPrefix = regexp.MustCompile(`^([a-z_][a-z0-9_]*(?:\[\d*\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d*\])?)*): `)

// notFields are message prefixes in that shape that name a part of the
// request's transport or a decoder, not a field of it.
var notFields = map[string]bool{"multipart": true, "json": true}

// paramWord is the first word after a plugin's "params: " — the plugins name
// the field that way when the sentence goes on ("params: voice \"x\" is not …",
// or the schema's "params: \"input\" is required").
var paramWord = regexp.MustCompile(`^"?([a-z_][a-z0-9_]*)"? `)

// paramOf is the field a 4xx message names (its prefix before ": "), or nil.
// A plugin's job params are the request's fields, so "params: steps: …" and
// "params: voice …" name steps and voice.
func paramOf(msg string) *string {
	m := fieldPrefix.FindStringSubmatch(msg)
	if m == nil || notFields[m[1]] {
		return nil
	}
	if m[1] == "params" {
		rest := msg[len(m[0]):]
		if n := fieldPrefix.FindStringSubmatch(rest); n != nil {
			if notFields[n[1]] {
				return nil
			}
			return &n[1]
		}
		if n := paramWord.FindStringSubmatch(rest); n != nil {
			return &n[1]
		}
	}
	return &m[1]
}

// errorMiddleware is the single place error JSON is written: handlers record
// errors with c.Error and return.
func (s *Server) errorMiddleware(c *gin.Context) {
	c.Next()
	if len(c.Errors) == 0 {
		return
	}
	err := c.Errors.Last().Err
	ae := toAPIError(err)
	if ae.Status >= 500 && ae.Code == sdk.CodeInternal {
		s.log(c).Error("internal error", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	}
	if c.Writer.Written() {
		// A streaming response already started: the stream writer reported
		// the error in-band; nothing more can be said here.
		return
	}
	if ae.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
	}
	c.AbortWithStatusJSON(ae.Status, ae.body())
}
