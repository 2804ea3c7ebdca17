/** Liveness (the process answers) and readiness (the database answers and is migrated). */
import { Hono } from 'hono';
import { isMigrated } from '../../../db/migrations.repo.ts';
import type { AppDeps, AppEnv } from '../../deps.ts';
import { unavailable } from '../../errors.ts';

export function healthRouter(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    if (deps.availability && !deps.availability.up) throw unavailable(deps.availability.reason ?? 'the database is not reachable');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('database check timed out')), 2000));
    let ready = false;
    let reason = 'the database is not reachable';
    try {
      ready = await Promise.race([isMigrated(deps.db.sql), timeout]);
      if (!ready) reason = 'the database has pending migrations';
    } catch {
      // reason stays "not reachable"; details go to the logs, not to anonymous callers
    }
    if (!ready) throw unavailable(reason);
    // Outside dependencies failing don't make this process unready (it answers, and its jobs
    // wait); they are shown, by group (never a tenant's webhook host).
    const degraded = new Map<string, { state: string; since: string; count: number }>();
    for (const b of deps.breakers?.status() ?? []) {
      if (b.state === 'closed') continue;
      const d = degraded.get(b.group);
      if (!d) degraded.set(b.group, { state: b.state, since: b.since, count: 1 });
      else (d.count++, b.state === 'open' && (d.state = 'open'));
    }
    return c.json({ status: 'ready', circuits: Object.fromEntries([...degraded].map(([g, d]) => [g, g === 'webhook' ? { state: d.state, hosts: d.count } : { state: d.state, since: d.since }])) });
  });
  return app;
}
