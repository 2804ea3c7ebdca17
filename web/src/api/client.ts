/**
 * The dashboard talks to the API through the SDK (sdk/): typed by the app's own OpenAPI
 * document, every failure a SwitchyardError carrying the problem's title, detail, field errors
 * and request id for the UI to show as they are, creates made idempotent, live events over the
 * deployment's transport.
 */
import { createSwitchyard, SwitchyardError, type LiveEvent, type LiveState, type Schemas, type Switchyard, type paths } from '../../../sdk/src/index.js';

export { API_VERSION } from '../../../sdk/src/index.js';
export type { LiveEvent, LiveState };
export type Project = Schemas['Project'];
export type Store = Schemas['Store'];
export type Job = Schemas['Job'];
export type JobEvent = Schemas['JobEvent'];
export type Rollout = Schemas['Rollout'];
export type Decision = Schemas['RolloutDecision'];
export type Problem = Schemas['Problem'];
export type Me = paths['/v1/me']['get']['responses'][200]['content']['application/json'];

export { SwitchyardError as ApiError };
export type Api = Switchyard;

export function createApi(getKey: () => string | null): Api {
  return createSwitchyard({ apiKey: getKey });
}
