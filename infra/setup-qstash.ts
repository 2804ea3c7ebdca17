/**
 * `npm run setup:qstash`: creates the QStash schedule that calls POST /workers/sweep every minute.
 * Idempotent (a fixed schedule id). Needs QSTASH_TOKEN and SWITCHYARD_WORKER_URL (and, as for any
 * QStash-mode process, the two signing keys) in the environment.
 */
import { ConfigError, parseConfig, qstashSettings } from '../core/env.ts';
import { createQStashClient, ensureSweepSchedule, SWEEP_PATH } from '../workers/queue/qstash.ts';

try {
  const config = parseConfig(process.env);
  const qstash = qstashSettings(config);
  if (!qstash) {
    console.error('setup:qstash needs QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY and SWITCHYARD_WORKER_URL');
    process.exit(2);
  }
  const cron = process.env.SWITCHYARD_SWEEP_CRON ?? '* * * * *';
  const id = await ensureSweepSchedule(createQStashClient(qstash), qstash.SWITCHYARD_WORKER_URL, cron);
  console.log(`schedule ${id}: POST ${qstash.SWITCHYARD_WORKER_URL.replace(/\/+$/, '')}${SWEEP_PATH} on "${cron}"`);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `setup:qstash failed: ${(err as Error).message}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
