/**
 * Store tasks: provision (step by step until the runtime says ready) and delete (until it says
 * gone). Each step's outcome commits with the store's transition or its recorded progress, in the
 * job's outcome transaction. A provisioning deadline fails the store with the last reason the
 * runtime reported (e.g. a pod in ImagePullBackOff), not a generic timeout; so does a teardown's.
 * The deadlines are the table every transitional status shares (core/deadlines.ts).
 */
import { z } from 'zod';
import { getStore, patchStoreDetails, transitionStore, type Store } from '../../db/stores.repo.ts';
import type { Job } from '../../db/jobs.repo.ts';
import type { Sql } from '../../db/client.ts';
import type { StoreInput } from '../providers/store/runtime.ts';
import { defineTask, type TaskContext } from '../registry.ts';
import { continueAfter, done, fail, pastDeadline, type StepOutcome } from '../step.ts';

export const StoreJobPayload = z.object({ store_id: z.string() });
type StoreJobPayload = z.infer<typeof StoreJobPayload>;

const failStore = async (tx: Sql, job: Job, error: string) => {
  await transitionStore(tx, job.tenantId, job.subjectId!, 'fail', { lastError: error });
};

const inputOf = (s: Store): StoreInput => ({
  storeId: s.id, tenantId: s.tenantId, name: s.name, engine: s.engine as 'medusa', plan: s.plan as 'free',
});

function runtimeFor(ctx: TaskContext<StoreJobPayload>, store: Store) {
  const runtime = ctx.deps.providers.stores[store.runtime];
  if (!runtime) throw new Error(`the ${store.runtime} runtime is not configured on this worker`);
  return runtime;
}

export const provisionStore = defineTask({
  kind: 'store.provision',
  ownsDeadline: true,
  payload: StoreJobPayload,
  async run(ctx): Promise<StepOutcome> {
    const store = await getStore(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.store_id);
    if (!store) return fail('store not found', { retryable: false });
    // Deleted before it was built (jobs for one store run one at a time, in order): nothing to do.
    if (store.status !== 'provisioning') return done({ store_id: store.id, skipped: `store is ${store.status}` });
    const step = await runtimeFor(ctx, store).provision(inputOf(store), ctx.state, ctx.signal);
    if (step.type === 'wait') {
      const reason = pastDeadline(ctx.job, step, `provisioning on ${store.runtime}`);
      if (reason) return fail(reason, { retryable: false });
      return continueAfter(step.delayMs, step.state, step.note, async (tx) => {
        await patchStoreDetails(tx, store.tenantId, store.id, { providerRef: step.providerRef, runtimeDetails: step.details });
      });
    }
    const sealed = await ctx.deps.box.seal(JSON.stringify(step.credentials), store.id);
    return done({ store_id: store.id, provider_ref: step.providerRef }, async (tx) => {
      await transitionStore(tx, store.tenantId, store.id, 'provisioned', {
        providerRef: step.providerRef, urls: step.urls, runtimeDetails: step.details, initialCredentials: sealed,
      });
    });
  },
  onDead: failStore,
});

export const deleteStore = defineTask({
  kind: 'store.delete',
  ownsDeadline: true,
  payload: StoreJobPayload,
  async run(ctx): Promise<StepOutcome> {
    const store = await getStore(ctx.deps.db.sql, ctx.job.tenantId, ctx.payload.store_id);
    if (!store) return fail('store not found', { retryable: false });
    if (store.status !== 'deleting') return done({ store_id: store.id, skipped: `store is ${store.status}` });
    const step = await runtimeFor(ctx, store).teardown(inputOf(store), store.providerRef, ctx.state, ctx.signal);
    if (step.type === 'wait') {
      const reason = pastDeadline(ctx.job, step, `deleting on ${store.runtime}`);
      if (reason) return fail(reason, { retryable: false });
      return continueAfter(step.delayMs, step.state, step.note);
    }
    return done({ store_id: store.id }, async (tx) => {
      await transitionStore(tx, store.tenantId, store.id, 'deleted', { initialCredentials: null });
    });
  },
  onDead: failStore,
});

export const storeTasks = [provisionStore, deleteStore];
