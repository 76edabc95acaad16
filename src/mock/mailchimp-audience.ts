import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { programName } from '../cli/program-name.js';
import { checkMergeValue, describeMergeField, EMPTY_VALUE, type MergeFieldSpec, type MergeValue } from './mailchimp-merge-fields.js';

/**
 * One Mailchimp audience (list) as the mock holds it, and what `POST /3.0/lists/{list_id}`
 * ("batch subscribe or unsubscribe") does to it. No HTTP here: the server parses, this decides.
 */

/** Addresses at this domain get Mailchimp's "looks fake or invalid" refusal: the mock's stand-in for its undocumented heuristics. */
export const FAKE_DOMAIN = 'suppressed.example';
/** "Up to 500 members may be added or updated with each API call." */
export const MAX_BATCH_MEMBERS = 500;
/** Mailchimp's limit on a tag name. */
export const MAX_TAG_LENGTH = 100;
/** The mock's own bounds (not Mailchimp's), so that what a client sends cannot grow its memory without end. */
export const MAX_TAGS_PER_MEMBER = 100;
export const MAX_TAGS_PER_LIST = 1000;

export const MEMBER_STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/**
 * The request body per the reference (`MembersToSubscribeUnsubscribeTofromAListInBatch`), plus
 * `status_if_new` and `tags`. Unknown keys are ignored; a value of the wrong type refuses the whole
 * request (400), as Mailchimp's schema validation does. `merge_fields` is checked per member.
 */
const MemberSchema = z.object({
  email_address: z.string(),
  status: z.enum(MEMBER_STATUSES).optional(),
  status_if_new: z.enum(MEMBER_STATUSES).optional(),
  email_type: z.enum(['html', 'text']).optional(),
  merge_fields: z.record(z.string(), z.unknown()).optional(),
  interests: z.record(z.string(), z.boolean()).optional(),
  language: z.string().optional(),
  vip: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
  location: z.object({ latitude: z.number(), longitude: z.number() }).partial().optional(),
  ip_signup: z.string().optional(),
  timestamp_signup: z.string().optional(),
  ip_opt: z.string().optional(),
  timestamp_opt: z.string().optional(),
});

export const BatchRequestSchema = z.object({
  members: z.array(MemberSchema),
  update_existing: z.boolean().optional(),
  sync_tags: z.boolean().optional(),
});
export type BatchRequest = z.infer<typeof BatchRequestSchema>;
export type BatchMember = z.infer<typeof MemberSchema>;

export interface SchemaProblem {
  field: string;
  message: string;
}

/** Mailchimp's names for JSON types in its schema messages ("Schema describes string, NULL found instead"). */
function jsonType(value: unknown): string {
  if (value === null) return 'NULL';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}

/** Checks the body's shape; the problems are worded as Mailchimp words them, fields as `members[3].status`. */
export function checkBatchRequest(json: unknown): { request: BatchRequest } | { problems: SchemaProblem[] } {
  const parsed = BatchRequestSchema.safeParse(json);
  // The raw body, not zod's copy: merge tags are read from it with their own keys (even `__proto__`).
  if (parsed.success) return { request: json as BatchRequest };
  return {
    problems: parsed.error.issues.map((issue) => {
      const found = valueAt(json, issue.path);
      if (issue.code === 'invalid_type' && found === undefined) {
        return { field: formatPath(issue.path.slice(0, -1)), message: `Required fields were not provided: ${String(issue.path.at(-1))}` };
      }
      if (issue.code === 'invalid_type') {
        const expected = issue.expected === 'record' ? 'object' : issue.expected;
        return { field: formatPath(issue.path), message: `Schema describes ${expected}, ${jsonType(found)} found instead` };
      }
      if (issue.code === 'invalid_value') {
        return { field: formatPath(issue.path), message: `Data presented is not one of the accepted values: ${issue.values.join(', ')}.` };
      }
      return { field: formatPath(issue.path), message: issue.message };
    }),
  };
}

/** The member's `id` ("subscriber hash"): the MD5 of the lower-cased address. */
export function subscriberHash(email: string): string {
  return createHash('md5').update(email.toLowerCase()).digest('hex');
}

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TOP_LEVEL = /^(?:[a-z]{2,}|xn--[a-z0-9-]+)$/;

/**
 * `invalid` for an address Mailchimp refuses as such: bad syntax, or a mailbox name (before the @)
 * that is not ASCII (Mailchimp "cannot process UTF-8 characters in your subscribers' email address
 * prefixes" but accepts internationalized domains). `fake` for the mock's stand-in domain.
 */
export function addressProblem(email: string): 'invalid' | 'fake' | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || email.length > 254) return 'invalid';
  const local = email.slice(0, at);
  const domain = domainToASCII(email.slice(at + 1).toLowerCase());
  if (local.length > 64 || !LOCAL_PART.test(local) || domain === '') return 'invalid';
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label)) || !TOP_LEVEL.test(labels.at(-1)!)) return 'invalid';
  return domain === FAKE_DOMAIN ? 'fake' : undefined;
}

export type ErrorCode = 'ERROR_GENERIC' | 'ERROR_CONTACT_EXISTS';

/** One entry of the answer's `errors[]` (the reference's `BatchUpdateListMembers.errors`). */
export interface BatchError {
  email_address: string;
  error: string;
  error_code: ErrorCode;
  field: string;
  field_message: string;
}

export interface BatchParams {
  updateExisting: boolean;
  syncTags: boolean;
  skipMergeValidation: boolean;
  skipDuplicateCheck: boolean;
  now: number;
}

interface StoredMember {
  id: string;
  email: string;
  status: MemberStatus;
  emailType: 'html' | 'text';
  /** Only the fields that hold something; the rest read as "". */
  merge: Map<string, MergeValue>;
  tagIds: number[];
  language: string;
  vip: boolean;
  webId: number;
  optedInAt: number | undefined;
  changedAt: number;
}

export interface BatchOutcome {
  created: StoredMember[];
  updated: StoredMember[];
  errors: BatchError[];
}

/** Members held across every list, and the most allowed (`--max-members`). */
export class MemberBudget {
  held = 0;
  constructor(readonly max: number) {}
}

type Step<T> = { ok: T } | { error: BatchError };

function refusal(email: string, error: string, options: { code?: ErrorCode; field?: string; fieldMessage?: string } = {}): { error: BatchError } {
  return { error: { email_address: email, error, error_code: options.code ?? 'ERROR_GENERIC', field: options.field ?? '', field_message: options.fieldMessage ?? '' } };
}

const LANGUAGE = /^[a-z]{2}(?:_[A-Z]{2})?$/;

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export class Audience {
  private readonly members = new Map<string, StoredMember>();
  private readonly fieldsByTag: Map<string, MergeFieldSpec>;
  private readonly tagIds = new Map<string, number>();
  private readonly tagNames: string[] = [];
  private nextWebId = 1;

  constructor(
    readonly id: string,
    readonly fields: readonly MergeFieldSpec[],
    private readonly budget: MemberBudget,
  ) {
    this.fieldsByTag = new Map(fields.map((field) => [field.tag, field]));
  }

  /** `GET /3.0/lists/{id}/merge-fields` for this page. */
  mergeFieldsPage(count: number, offset: number): object {
    return {
      merge_fields: this.fields.map((field, index) => describeMergeField(field, index, this.id)).slice(offset, offset + count),
      list_id: this.id,
      total_items: this.fields.length,
      _links: [],
    };
  }

  member(email: string): object | undefined {
    const member = this.members.get(subscriberHash(email));
    return member && this.render(member);
  }

  /** Each member in request order; a member that fails any check changes nothing. */
  apply(members: readonly BatchMember[], params: BatchParams): BatchOutcome {
    const outcome: BatchOutcome = { created: [], updated: [], errors: [] };
    const seen = new Set<string>();
    for (const input of members) {
      const result = this.applyOne(input, params, seen);
      if (result === 'skipped') continue;
      if ('error' in result) outcome.errors.push(result.error);
      else (result.ok.created ? outcome.created : outcome.updated).push(result.ok.member);
    }
    return outcome;
  }

  private applyOne(input: BatchMember, params: BatchParams, seen: Set<string>): Step<{ member: StoredMember; created: boolean }> | 'skipped' {
    const email = input.email_address;
    const problem = addressProblem(email);
    if (problem === 'invalid') return refusal(email, 'Please provide a valid email address.');
    if (problem === 'fake') return refusal(email, `${email} looks fake or invalid, please enter a real email address.`);
    const id = subscriberHash(email);
    if (seen.has(id)) {
      // "ignore duplicates sent in the request … The status of the first appearance in the request will be saved."
      if (params.skipDuplicateCheck) return 'skipped';
      return refusal(email, `${email} appears more than once in this request; only its first appearance was processed.`);
    }
    seen.add(id);
    const existing = this.members.get(id);
    if (existing && !params.updateExisting) {
      return refusal(email, `${email} is already a list member, do you want to update? please provide update_existing:true in the request body`, { code: 'ERROR_CONTACT_EXISTS' });
    }
    const status = this.resolveStatus(input, existing);
    if ('error' in status) return status;
    const merge = this.checkMergeFields(email, input.merge_fields, existing, params.skipMergeValidation);
    if ('error' in merge) return merge;
    const tags = this.checkTags(email, input.tags, existing, params.syncTags);
    if ('error' in tags) return tags;
    const details = checkDetails(input);
    if ('error' in details) return details;
    if (!existing && this.budget.held >= this.budget.max) {
      return refusal(email, `${email} could not be added: the mock holds at most ${this.budget.max} contacts (${programName()} mock mailchimp --max-members).`);
    }
    const member = existing ?? this.create(id, email, params.now);
    this.commit(member, input, { status: status.ok, merge: merge.ok, tags: tags.ok, now: params.now });
    return { ok: { member, created: !existing } };
  }

  /**
   * A new member takes `status_if_new`, else `status`; one with neither is refused. An existing
   * member (update_existing) takes `status` if sent, else keeps its own: `status_if_new` never
   * changes it. Subscribing again someone who unsubscribed or bounced is refused, as Mailchimp does.
   */
  private resolveStatus(input: BatchMember, existing: StoredMember | undefined): Step<MemberStatus> {
    const email = input.email_address;
    if (!existing) {
      const status = input.status_if_new ?? input.status;
      if (status) return { ok: status };
      return refusal(email, `${email} is not a list member yet and has no status: send status or status_if_new to add it.`, {
        field: 'status',
        fieldMessage: 'Please provide status or status_if_new for a new member.',
      });
    }
    if (input.status === undefined) return { ok: existing.status };
    if (input.status === 'subscribed' && (existing.status === 'unsubscribed' || existing.status === 'cleaned')) {
      return refusal(email, `${email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.`);
    }
    return { ok: input.status };
  }

  private checkMergeFields(email: string, given: Record<string, unknown> | undefined, existing: StoredMember | undefined, skipValidation: boolean): Step<Map<string, MergeValue>> {
    const changes = new Map<string, MergeValue>();
    const invalid = (tag: string, message: string) => refusal(email, 'Your merge fields were invalid.', { field: tag, fieldMessage: message });
    for (const tag of Object.keys(given ?? {})) {
      const field = this.fieldsByTag.get(tag);
      if (!field) return invalid(tag, 'This merge field does not exist in the audience');
      const check = checkMergeValue(field.type, given![tag]);
      if ('problem' in check) return invalid(tag, check.problem);
      changes.set(tag, check.value);
    }
    if (!skipValidation) {
      for (const field of this.fields) {
        const value = changes.has(field.tag) ? changes.get(field.tag) : existing?.merge.get(field.tag);
        if (field.required && (value === undefined || value === EMPTY_VALUE)) return invalid(field.tag, 'Please enter a value');
      }
    }
    return { ok: changes };
  }

  /** The member's tag names after this request: added to its own, or (sync_tags) replacing them. */
  private checkTags(email: string, given: string[] | undefined, existing: StoredMember | undefined, syncTags: boolean): Step<string[] | undefined> {
    if (given === undefined) return { ok: undefined };
    const invalid = (message: string) => refusal(email, 'Your tags were invalid.', { field: 'tags', fieldMessage: message });
    if (given.some((name) => name.trim() === '' || name.length > MAX_TAG_LENGTH)) return invalid(`Please enter tag names of 1 to ${MAX_TAG_LENGTH} characters`);
    const kept = syncTags || !existing ? [] : existing.tagIds.map((id) => this.tagNames[id - 1]!);
    const names = [...new Set([...kept, ...given])];
    if (names.length > MAX_TAGS_PER_MEMBER) return invalid(`This mock holds at most ${MAX_TAGS_PER_MEMBER} tags per member`);
    const unknown = names.filter((name) => !this.tagIds.has(name)).length;
    if (this.tagIds.size + unknown > MAX_TAGS_PER_LIST) return invalid(`This mock holds at most ${MAX_TAGS_PER_LIST} different tags per audience`);
    return { ok: names };
  }

  private create(id: string, email: string, now: number): StoredMember {
    this.budget.held += 1;
    const member: StoredMember = {
      id,
      email,
      status: 'subscribed',
      emailType: 'html',
      merge: new Map(),
      tagIds: [],
      language: '',
      vip: false,
      webId: this.nextWebId++,
      optedInAt: undefined,
      changedAt: now,
    };
    this.members.set(id, member);
    return member;
  }

  private commit(member: StoredMember, input: BatchMember, change: { status: MemberStatus; merge: Map<string, MergeValue>; tags: string[] | undefined; now: number }): void {
    if (change.status === 'subscribed' && (member.status !== 'subscribed' || member.optedInAt === undefined)) member.optedInAt = change.now;
    member.status = change.status;
    for (const [tag, value] of change.merge) {
      if (value === EMPTY_VALUE) member.merge.delete(tag);
      else member.merge.set(tag, value);
    }
    if (change.tags) member.tagIds = change.tags.map((name) => this.tagId(name));
    if (input.email_type) member.emailType = input.email_type;
    if (input.language !== undefined) member.language = input.language;
    if (input.vip !== undefined) member.vip = input.vip;
    member.changedAt = change.now;
  }

  private tagId(name: string): number {
    let id = this.tagIds.get(name);
    if (id === undefined) {
      this.tagNames.push(name);
      id = this.tagNames.length;
      this.tagIds.set(name, id);
    }
    return id;
  }

  /** A list member in the reference's shape (`ListMembers2`). */
  render(member: StoredMember): object {
    const mergeFields = Object.fromEntries(this.fields.map((field) => [field.tag, member.merge.get(field.tag) ?? EMPTY_VALUE]));
    const fullName = ['FNAME', 'LNAME'].map((tag) => member.merge.get(tag)).filter((part) => typeof part === 'string' && part !== '');
    return {
      id: member.id,
      email_address: member.email,
      unique_email_id: createHash('md5').update(`${this.id}:${member.id}`).digest('hex').slice(0, 10),
      contact_id: createHash('md5').update(`contact:${member.id}`).digest('hex'),
      full_name: fullName.join(' '),
      web_id: member.webId,
      email_type: member.emailType,
      status: member.status,
      merge_fields: mergeFields,
      stats: { avg_open_rate: 0, avg_click_rate: 0 },
      ip_signup: '',
      timestamp_signup: '',
      ip_opt: '',
      timestamp_opt: member.optedInAt === undefined ? '' : iso(member.optedInAt),
      member_rating: 2,
      last_changed: iso(member.changedAt),
      language: member.language,
      vip: member.vip,
      email_client: '',
      location: { latitude: 0, longitude: 0, gmtoff: 0, dstoff: 0, country_code: '', timezone: '', region: '' },
      source: 'API - Generic',
      tags_count: member.tagIds.length,
      tags: member.tagIds.map((id) => ({ id, name: this.tagNames[id - 1]! })),
      list_id: this.id,
      _links: [],
    };
  }
}

/** The member's other fields the mock stores: a language code, and no interests (the mock's audiences have no groups). */
function checkDetails(input: BatchMember): Step<true> {
  if (input.language !== undefined && input.language !== '' && !LANGUAGE.test(input.language)) {
    return refusal(input.email_address, 'Your language was invalid.', { field: 'language', fieldMessage: 'Please enter a language code such as en or fr_CA' });
  }
  const interest = Object.keys(input.interests ?? {})[0];
  if (interest !== undefined) {
    return refusal(input.email_address, 'Your interests were invalid.', { field: 'interests', fieldMessage: `Invalid interest ID: '${interest}'` });
  }
  return { ok: true };
}
