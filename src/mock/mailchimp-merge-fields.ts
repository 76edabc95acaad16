/**
 * An audience's merge fields as the Mailchimp mock holds them: their definitions (what
 * `GET /3.0/lists/{id}/merge-fields` lists) and the check of a value sent for one of them.
 *
 * Kept free of heavy imports: the CLI parses `--merge-field` with the constants below.
 */

/** The merge field types a `--merge-field TAG:type` may name (Mailchimp's, less the two that need a list of choices). */
export const MERGE_FIELD_TYPES = ['text', 'number', 'date', 'birthday', 'phone', 'url', 'imageurl', 'zip', 'address'] as const;
export type MergeFieldType = (typeof MERGE_FIELD_TYPES)[number];

export interface MergeFieldSpec {
  /** Upper case, as Mailchimp stores tags: `FNAME`, `LTV`. */
  tag: string;
  type: MergeFieldType;
  required: boolean;
}

/** What every new Mailchimp audience has (Mailchimp also adds ADDRESS, PHONE and BIRTHDAY; the mock keeps to the two names). */
export const DEFAULT_MERGE_FIELDS: readonly MergeFieldSpec[] = [
  { tag: 'FNAME', type: 'text', required: false },
  { tag: 'LNAME', type: 'text', required: false },
];

/** Mailchimp's length limit for a text merge value; the mock applies it to every string it stores (it also bounds memory). */
export const MAX_TEXT_LENGTH = 255;

const DISPLAY_NAMES: Record<string, string> = { FNAME: 'First Name', LNAME: 'Last Name' };

/** `address` fields hold an object; every other type a string or a number. */
export type MergeValue = string | number | AddressValue;
export interface AddressValue {
  addr1: string;
  addr2: string;
  city: string;
  state: string;
  zip: string;
  country: string;
}

/**
 * The list's fields as given, with a `--merge-field` for an existing tag (`FNAME:text:required`)
 * redefining it in place instead of adding a second one.
 */
export function combineMergeFields(extra: readonly MergeFieldSpec[]): MergeFieldSpec[] {
  const fields = [...DEFAULT_MERGE_FIELDS];
  for (const field of extra) {
    const at = fields.findIndex((known) => known.tag === field.tag);
    if (at === -1) fields.push(field);
    else fields[at] = field;
  }
  return fields;
}

/** Mailchimp's own `options` per type (what a new field of that type shows). */
function optionsFor(type: MergeFieldType): Record<string, unknown> {
  switch (type) {
    case 'text':
      return { size: 25 };
    case 'date':
      return { date_format: 'MM/DD/YYYY' };
    case 'birthday':
      return { date_format: 'MM/DD' };
    case 'phone':
      return { phone_format: 'none' };
    case 'address':
      return { default_country: 164 };
    default:
      return {};
  }
}

/** One entry of `merge_fields[]` in Mailchimp's shape. `merge_id` counts from 1; display_order from 2 (EMAIL is 1). */
export function describeMergeField(field: MergeFieldSpec, index: number, listId: string): Record<string, unknown> {
  return {
    merge_id: index + 1,
    tag: field.tag,
    name: DISPLAY_NAMES[field.tag] ?? field.tag,
    type: field.type,
    required: field.required,
    default_value: '',
    public: field.tag in DISPLAY_NAMES,
    display_order: index + 2,
    options: optionsFor(field.type),
    help_text: '',
    list_id: listId,
    _links: [],
  };
}

/** The empty value a member holds for a field nobody set. */
export const EMPTY_VALUE = '';

export type ValueCheck = { value: MergeValue } | { problem: string };

const NUMBER_TEXT = /^\s*-?\d+(?:\.\d+)?\s*$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const US_DATE = /^(\d{2})\/(\d{2})\/(\d{4})$/;
const BIRTHDAY = /^(\d{2})\/(\d{2})$/;
const PHONE = /^[\d\s()+.-]*\d[\d\s()+.-]*$/;
const ZIP = /^\d{5}(?:-\d{4})?$/;

function isCalendarDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function checkDate(value: string): ValueCheck {
  const iso = ISO_DATE.exec(value);
  const us = US_DATE.exec(value);
  const [year, month, day] = iso ? [iso[1], iso[2], iso[3]] : us ? [us[3], us[1], us[2]] : [];
  if (year === undefined || !isCalendarDate(Number(year), Number(month), Number(day))) return { problem: 'Please enter a date (YYYY-MM-DD or MM/DD/YYYY)' };
  // The API answers dates in one form whatever was sent.
  return { value: `${year}-${month}-${day}` };
}

function checkBirthday(value: string): ValueCheck {
  const match = BIRTHDAY.exec(value);
  if (!match || !isCalendarDate(2000, Number(match[1]), Number(match[2]))) return { problem: 'Please enter a birthday (MM/DD)' };
  return { value };
}

function checkUrl(value: string): ValueCheck {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return { value };
  } catch {
    // falls through to the refusal
  }
  return { problem: 'Please enter a valid URL' };
}

const ADDRESS_PARTS = ['addr1', 'addr2', 'city', 'state', 'zip', 'country'] as const;
const ADDRESS_REQUIRED = new Set(['addr1', 'city', 'state', 'zip']);

/** Mailchimp's address fields are all or nothing: addr1, city, state and zip, with addr2 and country optional. */
function checkAddress(value: unknown): ValueCheck {
  const problem = { problem: 'Please enter a complete address (addr1, city, state and zip)' };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return problem;
  const parts = value as Record<string, unknown>;
  const address = { addr1: '', addr2: '', city: '', state: '', zip: '', country: '' };
  for (const part of ADDRESS_PARTS) {
    const given = Object.hasOwn(parts, part) ? parts[part] : undefined;
    if (given === undefined || given === null || given === '') {
      if (ADDRESS_REQUIRED.has(part)) return problem;
      continue;
    }
    if (typeof given !== 'string' || given.length > MAX_TEXT_LENGTH) return problem;
    address[part] = given;
  }
  return { value: address };
}

/**
 * Checks a value sent for a merge field of this type. `""` (and null) clears a field of any type,
 * as in Mailchimp; whether a required field may be empty is decided by the caller. Messages are
 * the `field_message` of the member's error.
 */
export function checkMergeValue(type: MergeFieldType, value: unknown): ValueCheck {
  if (value === '' || value === null) return { value: EMPTY_VALUE };
  if (type === 'address') return checkAddress(value);
  if (type === 'number') {
    if (typeof value === 'number' && Number.isFinite(value)) return { value };
    if (typeof value === 'string' && NUMBER_TEXT.test(value)) return { value: Number(value) };
    return { problem: 'Please enter a number' };
  }
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string') return { problem: 'Please enter a text value' };
  if (text.length > MAX_TEXT_LENGTH) return { problem: `Please enter at most ${MAX_TEXT_LENGTH} characters` };
  switch (type) {
    case 'date':
      return checkDate(text);
    case 'birthday':
      return checkBirthday(text);
    case 'phone':
      return PHONE.test(text) ? { value: text } : { problem: 'Please enter a valid phone number' };
    case 'url':
    case 'imageurl':
      return checkUrl(text);
    case 'zip':
      return ZIP.test(text) ? { value: text } : { problem: 'Please enter a valid zip code' };
    default:
      return { value: text };
  }
}
