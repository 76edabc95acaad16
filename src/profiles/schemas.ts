import { z } from 'zod';
import { EMAIL_PATTERN, emailProblem, normalizeEmail } from '../normalize/email.js';
import { nameProblem, normalizeName } from '../normalize/name.js';
import { inexactNumberMessage, pathText, type InexactNumber } from './inexact-numbers.js';
import { commonProfile } from './common-profile.js';

/** A profile larger than this (as read) is invalid: it protects memory and the downstream. */
export const MAX_PROFILE_BYTES = 100 * 1024;
const MAX_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const required = (what: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`),
});

/** Normalized, then checked as it will be sent (see nameProblem): one message per name. */
const name = z.string(required('a string')).transform((value, ctx) => {
  const normalized = normalizeName(value);
  const problem = nameProblem(normalized);
  if (problem === undefined) return normalized;
  // Stryker disable next-line StringLiteral: the issue's code is zod's; only its message and path reach a caller.
  ctx.issues.push({ code: 'custom', message: problem, input: value });
  return z.NEVER;
});

/**
 * An address as push takes it, and its output as sent (see normalizeEmail). Pull judges the
 * source's addresses with this too, so "has a valid email" means one thing in the whole tool: a
 * customer pull writes as a profile is never refused by push for its address.
 */
export const EmailSchema = z
  .string(required('a string'))
  .transform((value, ctx) => {
    const problem = emailProblem(value);
    if (problem === undefined) return normalizeEmail(value);
    // Stryker disable next-line StringLiteral: the issue's code is zod's; only its message and path reach a caller.
    ctx.issues.push({ code: 'custom', message: problem, input: value });
    return z.NEVER;
  })
  .pipe(z.string().max(254, 'must be at most 254 characters'))
  .pipe(z.email({ pattern: EMAIL_PATTERN, error: 'must be a valid email address' }));

const MetadataSchema = z.looseObject({
  tags: z.array(z.string('must be a string').max(100, 'must be at most 100 characters'), 'must be an array of strings').max(100, 'must have at most 100 tags').optional(),
  preferences: z.record(z.string(), z.unknown(), 'must be an object').optional(),
}, 'must be an object');

/**
 * A profile as `sync push` and `sync serve` accept it. The output type is what goes on the wire:
 * email trimmed and lower-cased with its domain in ASCII (see normalizeEmail), names proper-cased;
 * the limits count that form. Unknown top-level keys are rejected.
 */
export const ProfileSchema = z.strictObject(
  {
    email: EmailSchema,
    firstName: name,
    lastName: name,
    metadata: z.optional(MetadataSchema),
  },
  // Stryker disable next-line ConditionalExpression: the object's only other issue, unrecognized_keys, gets its message from validateProfile.
  { error: (issue) => (issue.code === 'invalid_type' ? 'must be a JSON object' : undefined) },
);
export type Profile = z.infer<typeof ProfileSchema>;

/** The top-level fields a profile may have: the only `field` label values metrics may use, with `record` and `other`. */
export const PROFILE_FIELDS: readonly string[] = Object.keys(ProfileSchema.shape);

export interface FieldError {
  path: string;
  message: string;
}

export type Validation = { ok: true; profile: Profile } | { ok: false; errors: FieldError[] };

/**
 * Own keys that would reach an object's prototype if spread or assigned later, at any depth, and
 * nesting deep enough to be an attack rather than data. Iterative: a hostile document cannot blow
 * the stack.
 */
function unsafeStructure(value: unknown): FieldError | undefined {
  // Paths are rebuilt from parent links only when something is wrong: this runs for every record.
  interface Node {
    value: unknown;
    key: string;
    depth: number;
    parent: Node | undefined;
  }
  const pathOf = (node: Node | undefined, key?: string): string => {
    const parts = key === undefined ? [] : [key];
    // Stryker disable next-line OptionalChaining: always called with a node, and `at` only moves to a parent that exists.
    for (let at = node; at?.parent; at = at.parent) parts.unshift(at.key);
    return parts.join('.');
  };
  // Stryker disable next-line StringLiteral: the root's key is never part of a path (pathOf stops at the node without a parent).
  const stack: Node[] = [{ value, key: '', depth: 0, parent: undefined }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    // Stryker disable next-line ConditionalExpression: (the typeof) only the root can be a primitive here, children are filtered below, and a primitive has no forbidden key nor depth.
    if (node.value === null || typeof node.value !== 'object') continue;
    if (node.depth > MAX_DEPTH) return { path: pathOf(node), message: `is nested more than ${MAX_DEPTH} levels deep` };
    for (const key of Object.keys(node.value)) {
      if (FORBIDDEN_KEYS.has(key)) return { path: pathOf(node, key), message: 'is a forbidden key' };
      const child = (node.value as Record<string, unknown>)[key];
      // Stryker disable next-line ConditionalExpression,LogicalOperator: a primitive pushed is skipped when popped; the check only saves the push.
      if (child !== null && typeof child === 'object') stack.push({ value: child, key, depth: node.depth + 1, parent: node });
    }
  }
  return undefined;
}

/**
 * `input` as parsed from JSON text, and the numbers of that text a double could not keep (see
 * findInexactNumbers; paths from the profile's root): each one makes the profile invalid, since
 * sending the parsed value would send a number the caller never wrote.
 */
export function validateProfile(input: unknown, inexact: readonly InexactNumber[] = []): Validation {
  const unsafe = unsafeStructure(input);
  if (unsafe) return { ok: false, errors: [unsafe] };
  if (inexact.length === 0) {
    // A plainly valid record (nearly all of them) skips zod; anything else gets zod's verdict and words.
    const profile = commonProfile(input);
    if (profile) return { ok: true, profile };
  }
  const parsed = ProfileSchema.safeParse(input);
  if (parsed.success && inexact.length === 0) return { ok: true, profile: parsed.data };
  const errors: FieldError[] = (parsed.error?.issues ?? []).map((issue) => {
    if (issue.code === 'unrecognized_keys') return { path: issue.keys.join(','), message: 'is not an accepted field' };
    return { path: issue.path.join('.'), message: issue.message };
  });
  for (const found of inexact) errors.push({ path: pathText(found.path), message: inexactNumberMessage(found) });
  return { ok: false, errors };
}

/** One line: `email: must be a valid email address; firstName: is required`. */
export function describeErrors(errors: readonly FieldError[]): string {
  return errors.map((error) => (error.path ? `${error.path}: ${error.message}` : error.message)).join('; ');
}

/**
 * A dead-letter line; `sync push` accepts a file of these and re-sends each `record`. `runId` and
 * `at` say which run wrote it and when; lines written before they existed (or edited without them)
 * replay the same. Strict: an object with any other key is not a dead letter but a record.
 */
export const DeadLetterSchema = z.strictObject({
  line: z.number().int(),
  runId: z.string().optional(),
  at: z.string().optional(),
  class: z.enum(['client', 'server', 'unexpected']),
  reason: z.string(),
  record: z.unknown(),
});

/** The downstream's answer to `POST /profiles/batch`. */
export const BatchResponseSchema = z.object({
  batchId: z.string(),
  results: z.array(
    z.object({
      email: z.string(),
      status: z.enum(['accepted', 'rejected']),
      error: z.string().optional(),
    }),
  ),
});

/**
 * The wire form of a profile: metadata always present. Written out rather than spread: once per
 * profile served or pushed, and a spread of objects of varying shape was 1.4% of serve's CPU
 * (issue 19). A profile has only these keys, in this order (validation outputs them so), so
 * the text sent, and the digest push remembers of it, are the same.
 */
export function toWire(profile: Profile): Profile & { metadata: NonNullable<Profile['metadata']> } {
  return { email: profile.email, firstName: profile.firstName, lastName: profile.lastName, metadata: profile.metadata ?? {} };
}
