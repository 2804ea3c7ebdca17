/**
 * createApp: the one Hono app every runtime serves. Order: span → request id → metrics → access log → body limit
 * → auth and rate limits (for /v1) or the signature check (for /workers, in its routes) → routes. Errors of every
 * kind leave through onError as problem+json.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import type { AppDeps, AppEnv } from './deps.ts';
import { Problem, createErrorHandler, notFound, problemResponse } from './errors.ts';
import { newId } from '../core/ids.ts';
import { validationHook } from './lib/http.ts';
import type { MiddlewareHandler } from 'hono';
import { auth, createAuthCache, type AuthOptions } from './middleware/auth.ts';
import { rateLimits } from './middleware/rate-limit.ts';
import { createPostgresRateLimiter } from '../db/rate-limits.repo.ts';
import { createRedisRateLimiter } from './lib/rate-limit-redis.ts';
import type { RateLimiter } from '../core/rate-limit.ts';
import { accessLog } from './middleware/access-log.ts';
import { readBody } from './middleware/body.ts';
import { databaseAvailability } from './middleware/availability.ts';
import { textInput } from './middleware/text-input.ts';
import { admission } from './middleware/admission.ts';
import { eventsRouter } from './routes/events/events.handlers.ts';
import { realtimeRouter } from './routes/realtime/realtime.handlers.ts';
import { rolloutsRouter } from './routes/rollouts/rollouts.handlers.ts';
import { healthRouter } from './routes/health/health.handlers.ts';
import { jobsRouter } from './routes/jobs/jobs.handlers.ts';
import { projectsRouter } from './routes/projects/projects.handlers.ts';
import { storesRouter } from './routes/stores/stores.handlers.ts';
import { logsRouter } from './routes/logs/logs.handlers.ts';
import { alertsRouter } from './routes/alerts/alerts.handlers.ts';
import { tenantsRouter } from './routes/tenants/tenants.handlers.ts';
import { workersRouter } from './routes/workers/workers.handlers.ts';
import { metricsRouter } from './routes/metrics/metrics.handlers.ts';
import { versionsRouter } from './routes/versions/versions.handlers.ts';
import { apiVersions } from './middleware/api-version.ts';
import { auditLog } from './middleware/audit.ts';
import { auditRouter } from './routes/audit/audit.handlers.ts';
import { describeApi, type OpenApiDocument } from './openapi.ts';
import { httpMetrics } from './middleware/metrics.ts';
import { tracing } from './middleware/tracing.ts';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const authCache = createAuthCache(deps.config.SWITCHYARD_AUTH_CACHE_MS);

  app.use(tracing(deps.tracer ?? defaultTracer()));
  app.use(requestId({ generator: () => newId('req') }));
  if (deps.metrics) app.use(httpMetrics(deps.metrics));
  app.use(accessLog(deps.log));
  app.use(async function secureHeaders(c, next) {
    // Set before the handler runs, so every response built through the context carries it. Set
    // on a finished response instead, Hono rebuilds it (a full Response and a body stream): that
    // was ~15% of the API's CPU on POST /v1/projects. A response made without the context gets
    // it after the fact.
    c.header('X-Content-Type-Options', 'nosniff');
    // Every API answer is one tenant's data, and some carry a secret in its one reveal (keys,
    // signing secrets, tokens, credentials): no cache anywhere may keep any of them.
    if (c.req.path.startsWith('/v1/')) c.header('Cache-Control', 'no-store');
    await next();
    if (!c.res.headers.has('X-Content-Type-Options')) c.header('X-Content-Type-Options', 'nosniff');
  });
  const limit = readBody(deps.config.SWITCHYARD_BODY_LIMIT_BYTES);
  const metrics = deps.metrics;
  if (deps.config.SWITCHYARD_MAX_INFLIGHT > 0) {
    app.use('/v1/*', admission(deps.config.SWITCHYARD_MAX_INFLIGHT, metrics ? { onShed: () => metrics.inc('http_requests_shed_total', {}) } : {}));
  }
  if (deps.availability) {
    const bounded = databaseAvailability(deps.availability, { deadlineMs: deps.config.SWITCHYARD_REQUEST_TIMEOUT_MS });
    app.use('/v1/*', bounded);
    app.use('/workers/*', bounded);
  }

  app.route('/', healthRouter(deps));
  if (deps.metricsEndpoint) app.route('/', metricsRouter(deps.metricsEndpoint));
  if (deps.worker) {
    app.use('/workers/*', limit);
    app.route('/', workersRouter(deps.worker));
  }
  if (deps.api !== false) {
    // Every mutating request is recorded, refused ones included (middleware/audit.ts).
    const audit = auditLog(deps);
    app.use('/v1/*', audit.outcome);
    app.use('/v1/*', limit);
    app.use('/v1/*', textInput());
    app.use('/v1/*', apiVersions());
    app.use('/versions', apiVersions());
    const limits = deps.config.SWITCHYARD_RATE_LIMIT === 'on' ? rateLimits(rateLimiterFor(deps), deps.config, deps.log, deps.metrics) : null;
    // A request auth refuses takes a token of its caller's address first (429 past it).
    const authenticate = (options?: AuthOptions): MiddlewareHandler<AppEnv> => {
      const check = auth(deps, authCache, options);
      return async (c, next) => {
        try {
          await check(c, async () => {});
        } catch (err) {
          if (limits && err instanceof Problem && err.status === 401) await limits.refused(c);
          throw err;
        }
        // The audit row is committed after the limits pass and before the handler can change anything.
        const handler = async () => {
          await audit.intent(c, next);
        };
        return limits ? limits.forTenants(c, handler) : handler();
      };
    };
    const authenticateEvents = authenticate({ allowEventToken: true });
    const authenticateKey = authenticate();
    app.use('/v1/events', authenticateEvents);
    if (limits) app.use('/v1/webhooks/:provider/:sourceId', limits.forWebhooks);
    app.use('/v1/*', async function authenticateV1(c, next) {
      // SSE authenticates above; webhooks are authenticated by their signature, in the handler.
      if (c.req.path === '/v1/events' || c.req.path.startsWith('/v1/webhooks/')) return next();
      return authenticateKey(c, next);
    });
    app.route('/', tenantsRouter(deps, authCache));
    app.route('/', projectsRouter(deps));
    app.route('/', storesRouter(deps));
    app.route('/', logsRouter(deps));
    app.route('/', alertsRouter(deps));
    app.route('/', jobsRouter(deps));
    app.route('/', eventsRouter(deps));
    app.route('/', realtimeRouter(deps));
    app.route('/', rolloutsRouter(deps));
    app.route('/', versionsRouter());
    app.route('/', auditRouter(deps));

    let document: unknown;
    app.get('/openapi.json', (c) => {
      document ??= describeApi(app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: { title: 'Switchyard', version: '0.1.0', description: 'Control plane for multi-tenant platforms: tenant projects and stores provisioned by durable jobs, realtime status, monitoring and canary decisions' },
      }) as unknown as OpenApiDocument, { serverUrl: deps.config.SWITCHYARD_PUBLIC_URL });
      return c.json(document);
    });
  }

  let allowed: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    // A known path asked with another method is a 405 naming the methods it has (RFC 9110 §15.5.6).
    const methods = (allowed ??= allowedMethods(documentedRoutes(app)))(c.req.path);
    if (methods.length > 0) {
      return problemResponse(c, new Problem(405, 'Method not allowed', `${c.req.path} does not accept ${c.req.method}; it accepts ${methods.join(', ')}`, { allow: methods }, { Allow: methods.join(', ') }));
    }
    return problemResponse(c, notFound(`route ${c.req.method} ${c.req.path}`));
  });
  app.onError(createErrorHandler(deps.log, deps.availability, deps.errors));
  return app;
}
export type App = ReturnType<typeof createApp>;

/** The operations of the document (role guards are registered per method too, so app.routes would overstate). */
function documentedRoutes(app: OpenAPIHono<AppEnv>): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  for (const d of app.openAPIRegistry.definitions) if (d.type === 'route') out.push({ method: d.route.method.toUpperCase(), path: d.route.path });
  return out;
}

/** For a path, the methods its operations answer (paths in the document's `{param}` form). */
function allowedMethods(routes: { method: string; path: string }[]): (path: string) => string[] {
  const patterns = new Map<string, { re: RegExp; methods: Set<string> }>();
  for (const r of routes) {
    const entry = patterns.get(r.path) ?? { re: new RegExp(`^${r.path.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{[A-Za-z_]+\}/g, '[^/]+')}$`), methods: new Set<string>() };
    entry.methods.add(r.method);
    if (r.method === 'GET') entry.methods.add('HEAD');
    patterns.set(r.path, entry);
  }
  return (path) => {
    const out = new Set<string>();
    for (const p of patterns.values()) if (p.re.test(path)) for (const m of p.methods) out.add(m);
    return [...out].sort();
  };
}

function rateLimiterFor(deps: AppDeps): RateLimiter {
  if (deps.rateLimiter) return deps.rateLimiter;
  const c = deps.config;
  if (c.UPSTASH_REDIS_REST_URL && c.UPSTASH_REDIS_REST_TOKEN) {
    return createRedisRateLimiter({ url: c.UPSTASH_REDIS_REST_URL, token: c.UPSTASH_REDIS_REST_TOKEN, timeoutMs: c.SWITCHYARD_RATE_LIMIT_TIMEOUT_MS });
  }
  // Read at the first request: the document's generator builds the app without a database.
  let pg: RateLimiter | undefined;
  return { backend: 'postgres', take: (key, policies) => (pg ??= createPostgresRateLimiter(deps.db.sql)).take(key, policies) };
}

/** Ids without export: every request has a trace id for its logs and problems even when no collector is configured. */
let fallbackTracer: import('../core/trace.ts').Tracer | undefined;
function defaultTracer() {
  return (fallbackTracer ??= new BasicTracerProvider().getTracer('switchyard'));
}
