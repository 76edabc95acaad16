/**
 * One Iterable project as `sync mock iterable` keeps it: its users, and the type it fixed for each
 * data field. What bulkUpdate does with a request, as the sources in iterable-server.ts describe it.
 */

/** Iterable's field types (getFields; Block's types/data_types.go adds array). */
export const FIELD_TYPES = ['string', 'long', 'double', 'boolean', 'date', 'object', 'array'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/**
 * How a type mismatch is answered. `per-user`, the default: only that user is refused, named in
 * `failedUpdates.invalidDataEmails` (Block's client: "Invalid Data"; RudderStack reads those lists),
 * its neighbours applied. `request`: the whole request is refused with 400
 * RequestFieldsTypesMismatched (a real answer Grouparoo recorded on users/update; Block's client
 * handles it on bulkUpdate by sending every user again alone). Which one bulkUpdate gives for a
 * type is not documented: both are served.
 */
export type TypeMismatchMode = 'request' | 'per-user';

export const MAX_USERS = 1000;
/** Nested objects are typed field by field (`prefs.sms`) down to this depth; deeper is one object. */
const TYPED_DEPTH = 8;
/** Iterable's date formats (Block's types/data_types.go): a string in one of them makes a date field. */
const DATE = /^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d{3})?(?: ?(?:[+-]\d{2}:\d{2}|Z))?)?$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** Addresses refused by every simulator: here, users forgotten (GDPR), whose new data Iterable rejects. */
export const FORGOTTEN_DOMAIN = '@suppressed.example';

export interface BulkUser {
  email?: string;
  userId?: string;
  dataFields: Record<string, unknown>;
  preferUserId: boolean;
  mergeNestedObjects: boolean;
}

export interface BulkRequest {
  users: BulkUser[];
  createNewFields?: boolean;
}

/** Iterable's envelope for every error: `{msg, code, params}`. */
export interface IterableError {
  msg: string;
  code: string;
  params: Record<string, unknown> | null;
}

export interface StoredUser {
  email?: string;
  userId?: string;
  dataFields: Record<string, unknown>;
  signupDate: string;
  profileUpdatedAt: string;
}

const PATH = '[/api/users/bulkUpdate]';
const badJson = (params: Record<string, string>): IterableError => ({ msg: `${PATH} Invalid JSON body`, code: 'BadJsonBody', params });

/**
 * The request, or the 400 Iterable answers for its shape (play-json style paths, as RudderStack
 * recorded: `{"obj.users[1].preferUserId": "Boolean value expected"}`).
 */
export function readBulkRequest(text: string): BulkRequest | { status: 400; body: IterableError } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { status: 400, body: badJson({ obj: 'Invalid JSON' }) };
  }
  if (!isObject(json)) return { status: 400, body: badJson({ obj: 'Object value expected' }) };
  if (!Array.isArray(json.users)) return { status: 400, body: badJson({ 'obj.users': 'Array value expected' }) };
  if (json.users.length > MAX_USERS) {
    return { status: 400, body: { msg: `${PATH} Too many users in one request: ${json.users.length}, at most ${MAX_USERS}`, code: 'BadParams', params: null } };
  }
  const problems: Record<string, string> = {};
  const expect = (path: string, value: unknown, type: 'string' | 'boolean' | 'object'): void => {
    if (value === undefined || (type === 'object' ? isObject(value) : typeof value === type)) return;
    problems[path] = `${type === 'string' ? 'String' : type === 'boolean' ? 'Boolean' : 'Object'} value expected`;
  };
  expect('obj.createNewFields', json.createNewFields, 'boolean');
  json.users.forEach((user: unknown, i) => {
    const at = `obj.users[${i}]`;
    if (!isObject(user)) return void (problems[at] = 'Object value expected');
    expect(`${at}.email`, user.email, 'string');
    expect(`${at}.userId`, user.userId, 'string');
    expect(`${at}.dataFields`, user.dataFields, 'object');
    expect(`${at}.preferUserId`, user.preferUserId, 'boolean');
    expect(`${at}.mergeNestedObjects`, user.mergeNestedObjects, 'boolean');
  });
  if (Object.keys(problems).length > 0) return { status: 400, body: badJson(problems) };
  const users = (json.users as Record<string, unknown>[]).map((user) => ({
    email: user.email as string | undefined,
    userId: user.userId as string | undefined,
    dataFields: (user.dataFields ?? {}) as Record<string, unknown>,
    preferUserId: user.preferUserId === true,
    mergeNestedObjects: user.mergeNestedObjects === true,
  }));
  return { users, createNewFields: json.createNewFields as boolean | undefined };
}

/** The type a value gives a new field. */
export function typeOf(value: unknown): FieldType {
  if (typeof value === 'string') return DATE.test(value) ? 'date' : 'string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'long' : 'double';
  if (typeof value === 'boolean') return 'boolean';
  return Array.isArray(value) ? 'array' : 'object';
}

/** Whether a field of type `fixed` takes a value of type `incoming`: a date text is a string too, a whole number a double. */
function takes(fixed: FieldType, incoming: FieldType): boolean {
  return fixed === incoming || (fixed === 'string' && incoming === 'date') || (fixed === 'double' && incoming === 'long');
}

/** What Iterable calls the types a value could have ("possible types 'string, keyword'" for a text). */
const POSSIBLE: Record<FieldType, string> = { string: 'string, keyword', date: 'date, string, keyword', long: 'long', double: 'double', boolean: 'boolean', object: 'object', array: 'array' };

/** Every (dotted) field a user's data sets, with its value: objects are typed inside as well. */
function fieldsOf(data: Record<string, unknown>): [string, unknown][] {
  const found: [string, unknown][] = [];
  const stack: [string, unknown, number][] = Object.entries(data).reverse().map(([name, value]) => [name, value, 1]);
  while (stack.length > 0) {
    const [name, value, depth] = stack.pop()!;
    if (value === null || value === undefined) continue;
    found.push([name, value]);
    if (isObject(value) && depth < TYPED_DEPTH) {
      for (const [key, inner] of Object.entries(value).reverse()) stack.push([`${name}.${key}`, inner, depth + 1]);
    }
  }
  return found;
}

interface Mismatch {
  field: string;
  expected: FieldType;
  incoming: FieldType;
  value: unknown;
}

export interface ProjectOptions {
  id: number;
  typeMismatch: TypeMismatchMode;
  /** Whether the project takes fields it does not know (a request's createNewFields decides first). */
  newFields: 'create' | 'drop';
  fields?: readonly { name: string; type: FieldType }[];
}

export interface BulkOutcome {
  status: 200 | 400;
  body: object;
  /** Users updated or created, and refused one by one. */
  accepted: number;
  refused: number;
  /** Users (per-user mode) or requests (request mode) refused for a field's type. */
  typeMismatches: number;
}

export class IterableProject {
  /** Users by their key (the email in lower case, or `userId:<id>`), as JSON text: short GC pauses. */
  private readonly users = new Map<string, string>();
  /** A userId's user, by its key above. */
  private readonly byUserId = new Map<string, string>();
  readonly fields = new Map<string, FieldType>([
    ['email', 'string'],
    ['userId', 'string'],
    ['signupDate', 'date'],
    ['profileUpdatedAt', 'date'],
  ]);

  constructor(readonly options: ProjectOptions) {
    for (const { name, type } of options.fields ?? []) this.fields.set(name, type);
  }

  get size(): number {
    return this.users.size;
  }

  user(email: string): StoredUser | undefined {
    const stored = this.users.get(email.trim().toLowerCase());
    return stored === undefined ? undefined : (JSON.parse(stored) as StoredUser);
  }

  /** The field types, as `GET /api/users/getFields` lists them. */
  fieldTypes(): Record<string, FieldType> {
    return Object.fromEntries([...this.fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** One bulkUpdate: a 400 for a type mismatch (request mode), else each user applied or refused. */
  apply(request: BulkRequest, now: number): BulkOutcome {
    const creating = request.createNewFields ?? this.options.newFields === 'create';
    if (this.options.typeMismatch === 'request') {
      const mismatches = this.mismatches(request.users, creating);
      if (mismatches.length > 0) return { status: 400, body: this.mismatchError(mismatches), accepted: 0, refused: 0, typeMismatches: 1 };
    }
    const lists = { invalidEmails: [], invalidUserIds: [], notFoundEmails: [], notFoundUserIds: [], invalidDataEmails: [], invalidDataUserIds: [], conflictEmails: [], conflictUserIds: [], forgottenEmails: [], forgottenUserIds: [] } as Record<string, string[]>;
    const topInvalidEmails: string[] = [];
    const noOpEmails: string[] = [];
    const created = new Set<string>();
    const filtered = new Set<string>();
    let success = 0;
    let typeMismatches = 0;
    const refuse = (user: BulkUser, list: 'invalid' | 'notFound' | 'invalidData' | 'conflict' | 'forgotten'): void => {
      if (user.email !== undefined) lists[`${list}Emails`]!.push(user.email);
      else lists[`${list}UserIds`]!.push(user.userId ?? '');
    };
    for (const user of request.users) {
      const email = user.email?.trim().toLowerCase();
      if (email === undefined && user.userId === undefined) refuse(user, 'invalid');
      else if (email !== undefined && !EMAIL.test(email)) {
        refuse(user, 'invalid');
        topInvalidEmails.push(user.email!);
      } else if (email?.endsWith(FORGOTTEN_DOMAIN)) refuse(user, 'forgotten');
      else if (email !== undefined && user.userId !== undefined && (this.byUserId.get(user.userId) ?? email) !== email) refuse(user, 'conflict');
      else {
        // By email; a userId alone finds its user, or creates one only when preferUserId says so.
        const key = email ?? this.byUserId.get(user.userId!) ?? (user.preferUserId ? `userId:${user.userId}` : undefined);
        if (key === undefined) {
          refuse(user, 'notFound');
          continue;
        }
        if (this.options.typeMismatch === 'per-user' && this.mismatches([user], creating).length > 0) {
          refuse(user, 'invalidData');
          typeMismatches += 1;
          continue;
        }
        const outcome = this.upsert(key, user, creating, filtered, now);
        for (const field of outcome.createdFields) created.add(field);
        if (outcome.noOp && user.email !== undefined) noOpEmails.push(user.email);
        success += 1;
      }
    }
    const failCount = request.users.length - success;
    return {
      status: 200,
      body: {
        successCount: success,
        failCount,
        invalidEmails: topInvalidEmails,
        invalidUserIds: [],
        filteredOutFields: [...filtered],
        createdFields: [...created],
        noOpEmails,
        noOpUserIds: [],
        failedUpdates: lists,
      },
      accepted: success,
      refused: failCount,
      typeMismatches,
    };
  }

  /** Fields of these users whose value the project's (or an earlier user's) type does not take. */
  private mismatches(users: readonly BulkUser[], creating: boolean): Mismatch[] {
    const seen = new Map<string, FieldType>();
    const found: Mismatch[] = [];
    for (const user of users) {
      for (const [field, value] of fieldsOf(user.dataFields)) {
        const incoming = typeOf(value);
        const expected = this.fields.get(field) ?? seen.get(field);
        if (expected === undefined) {
          if (creating) seen.set(field, incoming);
        } else if (!takes(expected, incoming)) found.push({ field, expected, incoming, value });
      }
    }
    return found;
  }

  /** The 400 Grouparoo recorded from Iterable in 2021, naming the first field; every one in params. */
  private mismatchError(mismatches: readonly Mismatch[]): IterableError {
    const [first] = mismatches as [Mismatch];
    const validationErrors = Object.fromEntries(
      mismatches.map(({ field, expected, incoming, value }) => [
        field,
        { incomingTypes: POSSIBLE[incoming].split(', '), expectedType: expected, _type: 'UnexpectedType', offendingValue: typeof value === 'object' ? JSON.stringify(value) : String(value), category: 'user' },
      ]),
    );
    return {
      msg: `Project ${this.options.id}: The request does not have the same data types as the data previously submitted. Field '${first.field}' already exists for type 'user' and has a data type of '${first.expected}' but possible types '${POSSIBLE[first.incoming]}' in the request.`,
      code: 'RequestFieldsTypesMismatched',
      params: { validationErrors },
    };
  }

  /** Merges the user's data fields into the stored profile (created if new); fields fix their types. */
  private upsert(key: string, user: BulkUser, creating: boolean, filtered: Set<string>, now: number): { createdFields: string[]; noOp: boolean } {
    const iso = new Date(now).toISOString();
    const text = this.users.get(key);
    const stored: StoredUser = text ? (JSON.parse(text) as StoredUser) : { ...(user.email ? { email: user.email.trim().toLowerCase() } : {}), dataFields: {}, signupDate: iso, profileUpdatedAt: iso };
    const before = JSON.stringify(stored.dataFields);
    const createdFields: string[] = [];
    for (const [name, value] of Object.entries(user.dataFields)) {
      if (!this.fields.has(name) && value !== null) {
        if (!creating) {
          filtered.add(name);
          continue;
        }
      }
      for (const [field, inner] of fieldsOf({ [name]: value })) {
        if (this.fields.has(field)) continue;
        this.fields.set(field, typeOf(inner));
        createdFields.push(field);
      }
      const old = stored.dataFields[name];
      const merged = user.mergeNestedObjects && isObject(old) && isObject(value) ? Object.fromEntries([...Object.entries(old), ...Object.entries(value)]) : value;
      const entries = Object.entries(stored.dataFields);
      const at = entries.findIndex(([field]) => field === name);
      if (at >= 0) entries[at] = [name, merged];
      else entries.push([name, merged]);
      stored.dataFields = Object.fromEntries(entries);
    }
    if (user.userId !== undefined) {
      stored.userId = user.userId;
      this.byUserId.set(user.userId, key);
    }
    const noOp = text !== undefined && JSON.stringify(stored.dataFields) === before;
    if (!noOp) stored.profileUpdatedAt = iso;
    this.users.set(key, JSON.stringify(stored));
    return { createdFields, noOp };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
