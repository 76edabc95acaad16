import { InvalidArgumentError } from 'commander';
import { UsageError } from '../errors.js';
import { MERGE_FIELD_TYPES, type MergeFieldSpec, type MergeFieldType } from './mailchimp-merge-fields.js';

/** Flag parsers of `sync mock mailchimp`: a bad value is a one-line usage error (exit 2) naming the flag. */

/** A Mailchimp API key: 32 hex digits, a dash, the data centre (`us21`). */
export const API_KEY_PATTERN = /^[0-9a-f]{32}-([a-z]+\d+)$/;
const DATA_CENTRE = /^[a-z]+\d+$/;
const LIST_ID = /^[A-Za-z0-9]{1,32}$/;
/** Mailchimp's merge tags: letters, digits and underscores, at most 10, upper case. */
const MERGE_TAG = /^[A-Z][A-Z0-9_]{0,9}$/;

/** The data centre a key names (after its last dash). */
export function keyDataCentre(key: string): string | undefined {
  return API_KEY_PATTERN.exec(key)?.[1];
}

/**
 * `--key`: refused without the value in the message (commander would print it, and it is a
 * key, even if only the mock's).
 */
export function apiKey(value: string): string {
  if (!API_KEY_PATTERN.test(value)) {
    throw new UsageError('--key: expected a Mailchimp API key: 32 hexadecimal digits (lower case), a dash and the data centre, such as 0123456789abcdef0123456789abcdef-us21');
  }
  return value;
}

export function dataCentre(value: string): string {
  if (!DATA_CENTRE.test(value)) throw new InvalidArgumentError('expected a data centre such as us21.');
  return value;
}

/** `--list ID`, repeatable. */
export function listIds(value: string, previous: string[] = []): string[] {
  if (!LIST_ID.test(value)) throw new InvalidArgumentError('expected an audience id of 1 to 32 letters and digits, such as a1b2c3d4e5.');
  return previous.includes(value) ? previous : [...previous, value];
}

/** `--merge-field TAG[:type][:required]`, repeatable; the type defaults to text, the tag is taken in upper case. */
export function mergeFields(value: string, previous: MergeFieldSpec[] = []): MergeFieldSpec[] {
  const [rawTag = '', type = 'text', required, ...rest] = value.split(':');
  const tag = rawTag.toUpperCase();
  if (!MERGE_TAG.test(tag)) throw new InvalidArgumentError('expected a merge tag of 1 to 10 letters, digits or underscores, starting with a letter (such as LTV or PLAN:number).');
  if (!(MERGE_FIELD_TYPES as readonly string[]).includes(type)) throw new InvalidArgumentError(`expected a type among ${MERGE_FIELD_TYPES.join(', ')} after the tag (such as ${tag}:number).`);
  if ((required !== undefined && required !== 'required') || rest.length > 0) throw new InvalidArgumentError(`expected TAG[:type][:required], such as ${tag}:${type}:required.`);
  const field: MergeFieldSpec = { tag, type: type as MergeFieldType, required: required === 'required' };
  return [...previous.filter((known) => known.tag !== tag), field];
}

/** A `--key` that names another data centre than `--dc` could never be accepted: refused at start. */
export function checkKeyAndDataCentre(key: string | undefined, dc: string | undefined): void {
  const keyDc = key === undefined ? undefined : keyDataCentre(key);
  if (dc !== undefined && keyDc !== undefined && keyDc !== dc) {
    throw new UsageError(`--key is for data centre ${keyDc} but --dc is ${dc}: no request could be accepted`);
  }
}
