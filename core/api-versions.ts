/**
 * Dated API versions (Stripe's scheme): a tenant is pinned at creation to the current version and
 * keeps its pin until it changes it; a request may name another with `API-Version: YYYY-MM-DD`.
 *
 * Handlers only ever build the newest shape. Each version lists the changes it made, and each
 * change knows how to turn a response of its version back into the previous version's shape. A
 * request on an older version gets the newest response with every later change undone, newest
 * first. No handler branches on a version.
 */

export interface VersionChange {
  /** One line for the changelog (`GET /versions`). */
  description: string;
  /** This version's response body → the previous version's. Bodies a change doesn't concern are returned as they are. */
  toPrevious(body: unknown): unknown;
  /** The previous version's schema for a response schema of this version, or null where the change doesn't apply. */
  previousSchema?(schema: JsonSchema): JsonSchema | null;
}

export interface ApiVersion {
  version: string;
  changes: VersionChange[];
  /** When it was deprecated (RFC 9745) and when it stops being served (RFC 8594). */
  deprecated?: { at: string; sunset?: string };
}

export type JsonSchema = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** 2026-12-02: list responses carry `pagination: {next_cursor, has_more}` instead of a top-level `next_cursor`. */
const paginationObject: VersionChange = {
  description: 'list responses carry pagination: {next_cursor, has_more} in place of a top-level next_cursor',
  toPrevious(body) {
    if (!isObject(body) || !Array.isArray(body.data) || !isObject(body.pagination)) return body;
    const { pagination, ...rest } = body;
    return { ...rest, next_cursor: pagination.next_cursor ?? null };
  },
  previousSchema(schema) {
    const props = schema.properties;
    if (!isObject(props) || !('pagination' in props) || !('data' in props)) return null;
    const { pagination: _, ...rest } = props;
    return {
      type: 'object',
      properties: { ...rest, next_cursor: { type: ['string', 'null'], description: 'pass as ?cursor= for the next page; null on the last page' } },
      required: ['data', 'next_cursor'],
    };
  },
};

/** Newest first. */
export const API_VERSIONS: readonly ApiVersion[] = [
  { version: '2026-12-02', changes: [paginationObject] },
  { version: '2026-06-01', changes: [], deprecated: { at: '2026-12-02T00:00:00Z', sunset: '2027-06-01T00:00:00Z' } },
];

export const CURRENT_API_VERSION = API_VERSIONS[0]!.version;
/** What tenants created before versions existed are pinned to. */
export const FIRST_API_VERSION = API_VERSIONS[API_VERSIONS.length - 1]!.version;

export function findApiVersion(version: string): ApiVersion | undefined {
  return API_VERSIONS.find((v) => v.version === version);
}

/** The changes to undo, newest first, to serve `version`. */
export function changesAfter(version: string): VersionChange[] {
  const out: VersionChange[] = [];
  for (const v of API_VERSIONS) {
    if (v.version === version) return out;
    out.push(...v.changes);
  }
  throw new Error(`unknown API version ${version}`);
}

/** A newest-version body as `version` shapes it. */
export function toVersion(body: unknown, version: string): unknown {
  let out = body;
  for (const change of changesAfter(version)) out = change.toPrevious(out);
  return out;
}

/**
 * A newest-version response schema as it reads for every version: itself when no change concerns
 * it, or `oneOf` the shapes, each saying which versions answer with it.
 */
export function schemaForAllVersions(schema: JsonSchema): JsonSchema {
  const shapes: { schema: JsonSchema; versions: string[] }[] = [{ schema, versions: [API_VERSIONS[0]!.version] }];
  for (let i = 0; i < API_VERSIONS.length - 1; i++) {
    let current = shapes[shapes.length - 1]!.schema;
    let changed = false;
    for (const change of API_VERSIONS[i]!.changes) {
      const previous = change.previousSchema?.(current);
      if (previous) {
        current = previous;
        changed = true;
      }
    }
    const older = API_VERSIONS[i + 1]!.version;
    if (changed) shapes.push({ schema: current, versions: [older] });
    else shapes[shapes.length - 1]!.versions.push(older);
  }
  if (shapes.length === 1) return schema;
  return { oneOf: shapes.map((s) => ({ ...s.schema, description: `API-Version ${s.versions.join(', ')}` })) };
}

/** RFC 9745 `Deprecation` (a structured-field date: `@<epoch seconds>`) and RFC 8594 `Sunset` (an HTTP date). */
export function deprecationHeaders(v: ApiVersion): Record<string, string> {
  if (!v.deprecated) return {};
  const headers: Record<string, string> = { Deprecation: `@${Math.floor(Date.parse(v.deprecated.at) / 1000)}` };
  if (v.deprecated.sunset) headers.Sunset = new Date(v.deprecated.sunset).toUTCString();
  return headers;
}
