/**
 * Rate limits on every /v1 request, after authentication: one token from the tenant's plan bucket
 * and, for the routes of a stricter class (store creates, log pulls, backtests, token minting),
 * one from that class's bucket too; both must have one, and neither is spent unless both do.
 * Webhook deliveries (no tenant key) are limited per source, and a request refused with a 401 per
 * client address, so guessing keys costs time.
 *
 * `RateLimit-Policy` and `RateLimit` are set before the handler runs, so every answer carries
 * them, errors included; past a limit the answer is a 429 problem whose `Retry-After` is when
 * every bucket it needs has a token again. The buckets live in Postgres or, with Upstash
 * configured, in Redis, so they hold across any number of API processes and isolates. When the
 * backend doesn't answer, SWITCHYARD_RATE_LIMIT_FAIL decides (open: let it through; closed: 503),
 * and either is counted and logged.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { limiting, rateLimitHeaders, retryAfterSeconds, type LimitDecision, type LimitPolicy, type RateLimiter } from '../../core/rate-limit.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { AppConfig, AppEnv } from '../deps.ts';
import { Problem } from '../errors.ts';
import type { Logger } from '../../core/log.ts';
import { routeTemplate } from './metrics.ts';
import { clientAddress } from '../lib/client-address.ts';

/** Route classes by `METHOD route-template`: each a policy stricter than the plan for that kind of work. */
const CLASSES: Record<string, string> = {
  'POST /v1/stores': 'stores-create',
  'POST /v1/projects/:id/log-sources/:sid/pull': 'log-pulls',
  'POST /v1/projects/:id/log-sources/:sid/deliveries/:did/replay': 'log-pulls',
  'POST /v1/rollouts/:id/backtest': 'backtests',
  'POST /v1/events/token': 'tokens',
  'POST /v1/realtime/token': 'tokens',
  'POST /v1/api-keys': 'tokens',
};

export interface RateLimits {
  /** For authenticated /v1 requests (after `auth`). */
  forTenants: MiddlewareHandler<AppEnv>;
  /** For /v1/webhooks/:provider/:sourceId, keyed by the source. */
  forWebhooks: MiddlewareHandler<AppEnv>;
  /** Called with a request auth refused: takes the caller's address's token (throws 429 past it). */
  refused(c: Context<AppEnv>): Promise<void>;
}

export function rateLimits(limiter: RateLimiter, config: AppConfig, log: Logger, metrics?: Metrics): RateLimits {
  const classes: Record<string, LimitPolicy> = {
    ...config.SWITCHYARD_RATE_LIMIT_CLASSES,
    'stores-create': { name: 'stores-create', perMinute: config.SWITCHYARD_STORE_CREATES_PER_MIN, burst: config.SWITCHYARD_STORE_CREATES_PER_MIN },
  };
  const plans = config.SWITCHYARD_RATE_LIMIT_PLANS;
  let lastWarned = 0;

  /** The decision, or null when the backend failed open. */
  async function decide(c: Context<AppEnv>, key: string, policies: LimitPolicy[]): Promise<LimitDecision | null> {
    let decision: LimitDecision;
    try {
      decision = await limiter.take(key, policies);
    } catch (err) {
      const open = config.SWITCHYARD_RATE_LIMIT_FAIL === 'open';
      metrics?.inc('rate_limit_decisions_total', { policy: policies[0]!.name, decision: open ? 'failed_open' : 'failed_closed' });
      if (Date.now() - lastWarned > 10_000) {
        lastWarned = Date.now();
        log.warn(`the rate limiter's ${limiter.backend} backend failed; requests are ${open ? 'let through unlimited' : 'refused with 503'} until it answers (SWITCHYARD_RATE_LIMIT_FAIL=${config.SWITCHYARD_RATE_LIMIT_FAIL})`, { err });
      }
      c.header('RateLimit-Policy', policies.map((p) => `"${p.name}";q=${p.perMinute};w=60`).join(', '));
      if (open) return null;
      throw new Problem(503, 'Rate limiter unavailable', 'the rate limiter could not be reached; retry shortly', {}, { 'Retry-After': '1' }, { cause: err });
    }
    const headers = rateLimitHeaders(decision);
    c.header('RateLimit-Policy', headers['RateLimit-Policy']!);
    c.header('RateLimit', headers.RateLimit!);
    const by = limiting(decision);
    metrics?.inc('rate_limit_decisions_total', { policy: (by ?? decision.buckets[0]!).policy.name, decision: decision.allowed ? 'allowed' : 'limited' });
    if (!decision.allowed) {
      const wait = retryAfterSeconds(decision);
      const p = by!.policy;
      const what = plans[p.name] === p ? `the ${p.name} plan allows ${p.perMinute} requests per minute` : `${p.name} is limited to ${p.perMinute} per minute`;
      throw new Problem(429, 'Too many requests', `${what} (bursts of ${p.burst}); retry in ${wait} s`,
        { policy: p.name, retry_after: wait }, { 'Retry-After': String(wait) });
    }
    return decision;
  }

  return {
    async forTenants(c, next) {
      const principal = c.get('principal');
      const plan = plans[principal.plan] ?? plans.free!;
      const cls = CLASSES[`${c.req.method} ${routeTemplate(c)}`];
      await decide(c, principal.tenantId, cls ? [plan, classes[cls]!] : [plan]);
      return next();
    },
    async forWebhooks(c, next) {
      const source = c.req.param('sourceId') ?? c.req.path.split('/')[4] ?? 'unknown';
      await decide(c, `source:${source}`, [classes.webhooks!]);
      return next();
    },
    async refused(c) {
      await decide(c, `address:${clientAddress(c)}`, [classes.unauthenticated!]);
    },
  };
}

