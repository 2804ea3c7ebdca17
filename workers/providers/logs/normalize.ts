/**
 * Webhook deliveries, as the providers send them, turned into normalized events. One delivery
 * usually makes one event; the source event id is the provider's own (Render's `evj-…` event id,
 * Sentry's Request-ID plus resource), so a redelivery can never make a second row. Everything is
 * masked before it leaves this module.
 */
import type { EventKind, EventLevel, NewEvent } from '../../../db/events.repo.ts';
import { maskText, maskValue } from './mask.ts';

export interface SourceRef { id: string; tenantId: string; projectId: string; provider: string }
type Normalized = Omit<NewEvent, 'tenantId' | 'projectId' | 'sourceId' | 'provider'>;

const FAILED = /(_failed|_failure|unavailable|unhealthy|image_pull_failed)$/;
const WARN = /(suspended|restarted|_ended_with_errors|commit_ignored|maintenance_)/;

function isoOr(value: unknown, fallback: string): string {
  const t = typeof value === 'string' || typeof value === 'number' ? new Date(value) : null;
  return t && !Number.isNaN(t.getTime()) ? t.toISOString() : fallback;
}

/** Render: `{type, timestamp, data: {id, serviceId, serviceName?, status?, …}}` (Standard Webhooks). */
export function normalizeRender(body: unknown, deliveryId: string, receivedAt: string): Normalized[] {
  const b = body as { type?: string; timestamp?: string; data?: Record<string, unknown> };
  const type = typeof b.type === 'string' ? b.type : 'unknown';
  const data = b.data ?? {};
  const status = typeof data.status === 'string' ? data.status : null;
  const failed = FAILED.test(type) || (status !== null && /failed|canceled/.test(status));
  const kind: EventKind = /^(build|deploy|pre_deploy|zero_downtime_redeploy)_/.test(type) ? 'deploy' : failed ? 'error' : 'log';
  const level: EventLevel = failed ? 'error' : WARN.test(type) ? 'warn' : 'info';
  const service = (data.serviceName ?? data.serviceId ?? null) as string | null;
  const words = type.replace(/_/g, ' ');
  return [{
    ts: isoOr(b.timestamp, receivedAt),
    service,
    environment: null,
    level,
    kind,
    message: maskText(`${service ? `${service}: ` : ''}${words}${status ? ` (${status})` : ''}`),
    fingerprint: `render:${type}:${data.serviceId ?? ''}`,
    attrs: maskValue({ type, ...data }),
    sourceEventId: String(data.id ?? deliveryId),
  }];
}

/** Sentry integration-platform webhooks: `{action, data: {...}, installation, actor}` by resource. */
export function normalizeSentry(body: unknown, resource: string | null, deliveryId: string, receivedAt: string): Normalized[] {
  const b = body as { action?: string; data?: Record<string, any> };
  const action = b.action ?? 'unknown';
  const data = b.data ?? {};
  const base = { environment: null as string | null, sourceEventId: `${resource ?? 'unknown'}:${deliveryId}` };
  switch (resource) {
    case 'issue': {
      const issue = data.issue ?? {};
      const resolved = action === 'resolved' || action === 'archived';
      return [{
        ...base,
        ts: isoOr(issue.lastSeen ?? issue.firstSeen, receivedAt),
        service: issue.project?.slug ?? null,
        level: resolved ? 'info' : (['fatal', 'error', 'warn', 'info', 'debug'].includes(issue.level) ? issue.level : 'error') as EventLevel,
        kind: 'error',
        message: maskText(`${issue.shortId ? `${issue.shortId} ` : ''}${issue.title ?? 'issue'} (${action})`),
        fingerprint: issue.id ? `sentry:issue:${issue.id}` : null,
        attrs: maskValue({ action, issue: { id: issue.id, shortId: issue.shortId, status: issue.status, web_url: issue.web_url, culprit: issue.culprit } }),
      }];
    }
    case 'error': {
      const error = data.error ?? {};
      return [{
        ...base,
        ts: isoOr(error.datetime ?? error.timestamp, receivedAt),
        service: error.project != null ? String(error.project) : null,
        environment: error.environment ?? null,
        level: (['fatal', 'error', 'warning', 'info', 'debug'].includes(error.level) ? (error.level === 'warning' ? 'warn' : error.level) : 'error') as EventLevel,
        kind: 'error',
        message: maskText(String(error.title ?? error.message ?? 'error')),
        fingerprint: error.issue_id ? `sentry:issue:${error.issue_id}` : null,
        attrs: maskValue({ action, event_id: error.event_id, web_url: error.web_url, culprit: error.culprit, tags: error.tags }),
      }];
    }
    case 'event_alert': {
      const event = data.event ?? {};
      return [{
        ...base,
        ts: isoOr(event.datetime, receivedAt),
        service: null,
        level: 'error',
        kind: 'alert',
        message: maskText(`alert "${data.triggered_rule ?? 'rule'}": ${event.title ?? 'event'}`),
        fingerprint: `sentry:alert:${data.triggered_rule ?? ''}`,
        attrs: maskValue({ action, triggered_rule: data.triggered_rule, web_url: event.web_url, issue_id: event.issue_id }),
      }];
    }
    case 'metric_alert': {
      const level: EventLevel = action === 'critical' ? 'error' : action === 'warning' ? 'warn' : 'info';
      return [{
        ...base,
        ts: receivedAt,
        service: null,
        level,
        kind: 'alert',
        message: maskText(`${data.description_title ?? 'metric alert'} (${action})`),
        fingerprint: data.metric_alert?.alert_rule?.id ? `sentry:metric:${data.metric_alert.alert_rule.id}` : null,
        attrs: maskValue({ action, description: data.description_text, web_url: data.web_url }),
      }];
    }
    default:
      return [{
        ...base,
        ts: receivedAt,
        service: null,
        level: 'info',
        kind: 'log',
        message: maskText(`sentry ${resource ?? 'webhook'} ${action}`),
        fingerprint: null,
        attrs: maskValue({ action, resource }),
      }];
  }
}
