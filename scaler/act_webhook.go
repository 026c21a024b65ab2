package scaler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spillway/spillway/policy"
)

// DefaultWebhookTimeout bounds a webhook call when the config sets none.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook is the actuator that POSTs every change as JSON (a Request) to a
// URL. Any 2xx answer means the platform accepted the change.
type Webhook struct {
	url     string
	timeout time.Duration
	client  *http.Client
}

// NewWebhook returns a webhook actuator for cfg; a nil client means a
// plain http.Client.
func NewWebhook(cfg policy.WebhookActuator, client *http.Client) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if client == nil {
		client = &http.Client{}
	}
	return &Webhook{url: cfg.URL, timeout: cfg.Timeout, client: client}
}

// Scale posts the request and waits for the answer within the timeout.
func (w *Webhook) Scale(ctx context.Context, req Request) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("webhook actuator: encoding request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook actuator: pool %s: building request: %w", req.Pool, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("webhook actuator: pool %s: %w", req.Pool, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("webhook actuator: pool %s: POST %s: %s: %s",
			req.Pool, w.url, resp.Status, strings.TrimSpace(string(snippet)))
	}
	// Drain what is left so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}
