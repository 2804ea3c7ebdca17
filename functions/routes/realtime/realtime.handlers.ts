import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { forbidden, Problem } from '../../errors.ts';
import { validationHook } from '../../lib/http.ts';
import { supabaseRealtimeSettings } from '../../lib/supabase-realtime.ts';
import * as routes from './realtime.routes.ts';

export function realtimeRouter(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const supabase = supabaseRealtimeSettings(deps.config);

  app.openapi(routes.discoverRealtime, (c) => {
    const { tenantId } = c.get('principal');
    const transports = [
      ...(supabase ? [{ transport: 'supabase' as const, url: supabase.url, anon_key: supabase.anonKey, token_url: '/v1/realtime/token', private: true as const }] : []),
      // SSE needs this process's hub (Node); on Workers and Deno there is none.
      ...(deps.realtime ? [{ transport: 'sse' as const, url: '/v1/events' }] : []),
    ];
    const first = transports[0] ?? { transport: 'sse' as const, url: '/v1/events' };
    return c.json({
      transport: first.transport, url: first.url, transports,
      topics: [`tenant:${tenantId}`, 'project:<project id>', 'store:<store id>', 'job:<job id>', 'rollout:<rollout id>'],
    }, 200);
  });

  app.openapi(routes.createRealtimeToken, async (c) => {
    if (!supabase) {
      throw new Problem(404, 'Not found', 'Supabase Realtime is not configured here (SUPABASE_URL, SUPABASE_ANON_KEY and SUPABASE_JWT_SECRET or SUPABASE_JWT_PRIVATE_KEY); use GET /v1/realtime to see how this deployment pushes events');
    }
    const p = c.get('principal');
    if (p.via !== 'api_key') throw forbidden('an event token is read-only and may not mint a realtime token; use an API key');
    const exp = Math.floor(Date.now() / 1000) + supabase.ttlS;
    const accessToken = await supabase.sign({
      role: 'authenticated', aud: 'authenticated', sub: p.keyId, iss: 'switchyard',
      app_metadata: { tenant_id: p.tenantId, key_role: p.role },
    }, exp);
    return c.json({ access_token: accessToken, token_type: 'bearer' as const, expires_at: new Date(exp * 1000).toISOString() }, 201);
  });

  return app;
}
