import { isBrazeEmail } from './braze-email.js';

/**
 * What Braze's `POST /users/track` makes of a request body, before anything is stored: the
 * request refused as a whole (too many objects, not JSON, nothing valid), or each object checked.
 * Sources: braze-docs `post_user_track.md` (body, responses), `api_limits.md` (75 objects of each
 * kind), `errors.md` ("400 Max Input Length Exceeded"), `user_attributes_object.md` (identifiers,
 * `_update_existing_only`); the error `type` texts and the 400 for "nothing valid" from RudderStack's
 * mocks of real answers (rudder-transformer `test/integrations/destinations/braze/network.ts`).
 */

/** Objects of each kind (attributes, events, purchases) one request may carry. */
export const MAX_OBJECTS = 75;
export const INPUT_ARRAYS = ['attributes', 'events', 'purchases'] as const;
export type InputArray = (typeof INPUT_ARRAYS)[number];

export const MESSAGES = {
  tooMany: 'Max Input Length Exceeded',
  nothingValid: "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.",
  /** [INF] Braze's errors table says "400 Bad Request: Bad syntax"; the exact body is not documented. */
  badSyntax: 'Bad Request',
  noIdentifier: "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
  invalidEmail: "The value provided for the 'email' field is not a valid email.",
} as const;

export interface TrackError {
  type: string;
  input_array: InputArray;
  index: number;
}

/** An object Braze would take: who it is about, and (attributes) what it sets. */
export interface CheckedObject {
  kind: InputArray;
  /** `email:ann@example.com`, `external_id:u1`, …: the user it updates. */
  userKey: string;
  /** Update only: an unknown user is not created (`_update_existing_only: true`, or a user alias without it false). */
  updateOnly: boolean;
  object: Record<string, unknown>;
}

export type CheckedRequest =
  | { refused: { message: string; errors?: TrackError[] }; counts: Record<InputArray, number> }
  | { objects: CheckedObject[]; errors: TrackError[]; counts: Record<InputArray, number>; sent: Set<InputArray> };

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/**
 * The user an object is about, by Braze's identifiers in order of precedence (an external id wins;
 * "if you include both email and phone, Braze will use the email"), or undefined: none given.
 */
function userKeyOf(object: Record<string, unknown>): string | undefined {
  if (nonEmpty(object.external_id)) return `external_id:${object.external_id}`;
  if (nonEmpty(object.braze_id)) return `braze_id:${object.braze_id}`;
  const alias = object.user_alias;
  if (isObject(alias) && nonEmpty(alias.alias_name) && nonEmpty(alias.alias_label)) return `user_alias:${alias.alias_label}:${alias.alias_name}`;
  if (typeof object.email === 'string' && object.email !== '') return `email:${object.email.toLowerCase()}`;
  if (nonEmpty(object.phone)) return `phone:${object.phone}`;
  return undefined;
}

function checkObject(kind: InputArray, value: unknown, index: number): CheckedObject | TrackError {
  const problem = (type: string): TrackError => ({ type, input_array: kind, index });
  if (!isObject(value)) return problem(MESSAGES.noIdentifier);
  const userKey = userKeyOf(value);
  if (!userKey) return problem(MESSAGES.noIdentifier);
  // The address is checked whenever one is given, identifier or not.
  if (value.email !== undefined && value.email !== null && (typeof value.email !== 'string' || !isBrazeEmail(value.email))) return problem(MESSAGES.invalidEmail);
  const aliasOnly = userKey.startsWith('user_alias:');
  const updateOnly = value._update_existing_only === true || (aliasOnly && value._update_existing_only !== false);
  return { kind, userKey, updateOnly, object: value };
}

/** Reads and checks a /users/track body. */
export function checkTrackRequest(text: string): CheckedRequest {
  const counts: Record<InputArray, number> = { attributes: 0, events: 0, purchases: 0 };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { refused: { message: MESSAGES.badSyntax }, counts };
  }
  if (!isObject(body)) return { refused: { message: MESSAGES.badSyntax }, counts };
  const sent = new Set<InputArray>();
  for (const kind of INPUT_ARRAYS) {
    const list = body[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return { refused: { message: MESSAGES.badSyntax }, counts };
    sent.add(kind);
    counts[kind] = list.length;
  }
  if (INPUT_ARRAYS.some((kind) => counts[kind] > MAX_OBJECTS)) return { refused: { message: MESSAGES.tooMany }, counts };
  const objects: CheckedObject[] = [];
  const errors: TrackError[] = [];
  for (const kind of sent) {
    (body[kind] as unknown[]).forEach((value, index) => {
      const checked = checkObject(kind, value, index);
      if ('type' in checked) errors.push(checked);
      else objects.push(checked);
    });
  }
  // A fatal error: nothing at all in the request can be processed.
  if (objects.length === 0) return { refused: { message: MESSAGES.nothingValid, ...(errors.length > 0 ? { errors } : {}) }, counts };
  return { objects, errors, counts, sent };
}
