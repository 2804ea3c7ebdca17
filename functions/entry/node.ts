/**
 * `npm start`: the whole control plane in one Node process (see README, "Configuration").
 *
 * It behaves as a service should whichever process gets the signal. `npm start` runs
 * `exec node …`, so the tree is npm → node (no shell, no tsx wrapper); npm forwards SIGTERM and
 * SIGINT to us, and a signal to the whole group reaches us directly. If npm itself dies without
 * forwarding (SIGKILL, or a supervisor killing only the parent), we notice our parent is gone and
 * shut down the same way. Postgres runs in a process group of its own, so a Ctrl-C reaches us and
 * we stop it last, after draining.
 */
import { ConfigError, parseConfig } from '../../core/env.ts';
import { startSwitchyard, type Running } from './server.ts';

let config;
try {
  config = parseConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`switchyard: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name || 'unknown error';
  return err === undefined ? 'unknown error (nothing was thrown with it)' : String(err);
}

let running: Running | null = null;
let exiting = false;
const fatal = (err: Error) => {
  console.error(`switchyard: ${reasonOf(err)}`);
  if (exiting) return;
  exiting = true;
  const done = () => process.exit(1);
  const stop = running?.stop();
  if (!stop) return done();
  stop.then(done, done);
  setTimeout(done, 5000).unref();
};

try {
  running = await startSwitchyard(config, { banner: true, onFatal: fatal });
} catch (err) {
  console.error(`switchyard: failed to start: ${reasonOf(err)}`);
  process.exit(1);
}

// Shutdown is ours: stop accepting, drain the runner, then stop Postgres. It is bounded: past the
// grace plus 4.5 s, Postgres is killed and the process exits anyway.
let signals = 0;
let firstSignalAt = 0;
const shutdown = (why: string) => {
  // A signal to the whole group reaches us twice at once: directly, and forwarded by npm. Only a
  // second one that comes later (a second Ctrl-C) means "now".
  if (signals > 0 && Date.now() - firstSignalAt < 500) return;
  firstSignalAt = Date.now();
  if (++signals > 1) {
    console.error(`switchyard: ${why} again, exiting now`);
    running!.kill();
    process.exit(130);
  }
  exiting = true;
  running!.log.info('shutting down', { signal: why });
  const watchdog = setTimeout(() => {
    console.error('switchyard: shutdown took too long; stopping Postgres and exiting');
    running!.kill();
    process.exit(1);
  }, config.SWITCHYARD_SHUTDOWN_GRACE_MS + 4500);
  watchdog.unref();
  running!.stop().then(() => process.exit(0), (err) => {
    console.error(`switchyard: unclean shutdown: ${reasonOf(err)}`);
    process.exit(1);
  });
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));

// Orphaned: the parent (npm, a shell) is gone without passing a signal on.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent && signals === 0) shutdown('parent exited');
}, 500).unref();
