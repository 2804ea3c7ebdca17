/**
 * Status is data: one enum per resource, one transitions table, and predicates.
 * Nothing outside these tables decides whether a status may change; repositories turn a
 * transition into one conditional `UPDATE … WHERE status = ANY(from) RETURNING *`.
 */
import { z } from 'zod';

export const JobStatus = z.enum([
  'queued', // waiting for run_at; also where retries and continuations go back to
  'running', // claimed under a lease; an expired lease makes it claimable again
  'succeeded', // final: the handler returned done()
  'dead', // final: retries exhausted or a non-retryable failure; its subject is failed
  'canceled', // final: canceled while queued
]);
export type JobStatus = z.infer<typeof JobStatus>;
export const isFinalJobStatus = (s: JobStatus) => s === 'succeeded' || s === 'dead' || s === 'canceled';

export const ProjectStatus = z.enum([
  'provisioning', // create accepted; the provider is creating the database
  'active', // ready to connect
  'suspending', // suspend accepted
  'suspended', // connections refused, data kept
  'resuming', // resume accepted
  'deleting', // delete accepted
  'deleted', // final: data dropped; the row stays for the record
  'failed', // a job gave up; see last_error
  'degraded', // a transition outlived its deadline while the project still serves; see last_error
]);
export type ProjectStatus = z.infer<typeof ProjectStatus>;

export interface Transition<S extends string> {
  from: readonly S[];
  to: S;
}

/** Every allowed project status change, by name. */
export const projectTransitions = {
  provisioned: { from: ['provisioning'], to: 'active' },
  suspend: { from: ['active', 'degraded'], to: 'suspending' },
  suspended: { from: ['suspending'], to: 'suspended' },
  resume: { from: ['suspended'], to: 'resuming' },
  resumed: { from: ['resuming'], to: 'active' },
  delete: { from: ['active', 'suspended', 'failed', 'degraded'], to: 'deleting' },
  deleted: { from: ['deleting'], to: 'deleted' },
  fail: { from: ['provisioning', 'suspending', 'resuming', 'deleting'], to: 'failed' },
  // Past its deadline, but the provider says the project still serves (e.g. healthy but stuck).
  degrade: { from: ['provisioning', 'suspending', 'resuming'], to: 'degraded' },
  // A degraded project whose provider reports it healthy again.
  recovered: { from: ['degraded'], to: 'active' },
  // An imported project that its provider reports paused: it starts suspended.
  adopted_paused: { from: ['provisioning'], to: 'suspended' },
} as const satisfies Record<string, Transition<ProjectStatus>>;
export type ProjectTransition = keyof typeof projectTransitions;

export const StoreStatus = z.enum([
  'provisioning', // create accepted; the runtime is building the store
  'ready', // serving; urls are set
  'failed', // provisioning or teardown gave up (deadline, retries); see last_error
  'deleting', // delete accepted; teardown in progress
  'deleted', // final: torn down; the row stays for the record
]);
export type StoreStatus = z.infer<typeof StoreStatus>;

/** Every allowed store status change, by name. */
export const storeTransitions = {
  provisioned: { from: ['provisioning'], to: 'ready' },
  // A store stuck provisioning can be deleted; the jobs run one at a time per store, in order.
  delete: { from: ['provisioning', 'ready', 'failed'], to: 'deleting' },
  deleted: { from: ['deleting'], to: 'deleted' },
  fail: { from: ['provisioning', 'deleting'], to: 'failed' },
} as const satisfies Record<string, Transition<StoreStatus>>;
export type StoreTransition = keyof typeof storeTransitions;

export const RolloutStatus = z.enum([
  'pending', // accepted; its first evaluation hasn't run
  'running', // judged every interval; decisions act
  'paused', // a soft breach, no data, or a person; a person resumes
  'promoted', // final: the canary took all traffic
  'rolled_back', // final: a breach proven with the policy's confidence, or a person
  'aborted', // final: a person stopped it
]);
export type RolloutStatus = z.infer<typeof RolloutStatus>;
export const isFinalRolloutStatus = (s: RolloutStatus) => s === 'promoted' || s === 'rolled_back' || s === 'aborted';

/** Every allowed rollout status change, by name. Step changes within `running` are not status changes. */
export const rolloutTransitions = {
  start: { from: ['pending'], to: 'running' },
  pause: { from: ['pending', 'running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  promoted: { from: ['running', 'paused'], to: 'promoted' },
  rollback: { from: ['pending', 'running', 'paused'], to: 'rolled_back' },
  abort: { from: ['pending', 'running', 'paused'], to: 'aborted' },
} as const satisfies Record<string, Transition<RolloutStatus>>;
export type RolloutTransition = keyof typeof rolloutTransitions;
