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
    return c.json({ status: 'ready' });
  });
  return app;
}
